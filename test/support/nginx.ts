/**
 * A throw-away nginx in front of several chat instances, as a deployment puts
 * a load balancer there: Debian's `/usr/sbin/nginx` (package `nginx`,
 * installed by .ci/run) with a config, pid file, temp dirs and logs of its own
 * in a temporary directory, on free ports. The Debian service (port 80) plays
 * no part.
 *
 * Why two ports: nginx 1.22 (Debian 12) cannot serve h2c and HTTP/1.1 on one
 * cleartext port. `listen … http2` without TLS means HTTP/2 with prior
 * knowledge only: an HTTP/1.1 request is answered with a GOAWAY frame
 * ("invalid connection preface" in the error log; curl reports "HTTP/0.9"),
 * and there is no h2c Upgrade. (nginx 1.25.1's `http2 on` reportedly sniffs
 * the preface; the chat server itself does the same, see PLATFORM.md.) The
 * stream module could pass one port's TCP connections on unread, the server
 * sniffing them itself, but it is another package (`libnginx-mod-stream`) and
 * balances connections, not calls: every call on one h2 connection would go
 * to the same instance. So:
 * - `grpcUrl`, h2c with prior knowledge: gRPC goes to the instances over h2
 *   (`grpc_pass`); Connect and gRPC-Web over h2c go over HTTP/1.1
 *   (`proxy_pass`: nginx speaks only HTTP/1.x to HTTP upstreams), which
 *   carries their unary calls and server streams but not bidi.
 * - `httpUrl`, HTTP/1.1: Connect and gRPC-Web, the browser's page and calls.
 *
 * Streams are neither buffered nor cut by nginx's 60 s read timeouts, and a
 * dead instance is skipped for new requests (`*_next_upstream`). A stream cut
 * by an instance's death ends with an error the client sees, so it resumes:
 * over h2 a RST_STREAM with INTERNAL_ERROR (connect-es and grpc-js report
 * `internal`, not `unavailable`), over HTTP/1.1 a connection closed before
 * the last chunk (connect-node: `aborted`). A unary call in flight when its
 * instance dies gets HTTP 502 (`unavailable`): nginx never resends a POST an
 * upstream may have begun to process.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

export interface NginxOptions {
  /** The chat instances, `127.0.0.1:PORT` each; balanced round robin. */
  upstreams: string[];
  /**
   * How long a stream may stay silent (nginx's `*_read_timeout`, `*_send_timeout`,
   * `client_body_timeout`). Default 1 h: nginx's own default, 60 s, would cut
   * a subscription to a quiet room whose server sends no heartbeats.
   */
  streamTimeout?: string;
  /**
   * Default true: idle h2 connections to the instances are kept for the next
   * gRPC call. False opens one per call, for servers whose HPACK encoder
   * ignores nginx's SETTINGS_HEADER_TABLE_SIZE 0 (nginx's gRPC proxy keeps no
   * dynamic table): Bun's node:http2 (oven-sh/bun#19152) answers the second
   * call on a connection with indexes nginx cannot read, "upstream sent
   * invalid http2 table index", and the client gets HTTP 502.
   */
  grpcKeepalive?: boolean;
}

export interface Nginx {
  /** The nginx process (one: no master), for benchmarks that count its CPU. */
  pid: number | undefined;
  /** `http://127.0.0.1:PORT` of the h2c (prior knowledge) port: gRPC, and Connect or gRPC-Web over h2c. */
  grpcUrl: string;
  grpcPort: number;
  /** `http://127.0.0.1:PORT` of the HTTP/1.1 port: Connect, gRPC-Web, the browser. */
  httpUrl: string;
  httpPort: number;
  /** Fast shutdown (SIGTERM, SIGKILL after 5 s); removes the directory. */
  stop(): Promise<void>;
  /** The error log, then the access log (one line per request: port, upstream, status). */
  log(): string;
}

const nginxPath = process.env.NGINX_PATH ?? "/usr/sbin/nginx";
const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

/** A crashed or interrupted test run must leave neither nginx nor its files behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const [child, dir] of live) {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/**
 * The whole config. `master_process off`: one process, so a SIGKILL leaves
 * no orphaned worker holding the ports. Every path nginx writes is in `dir`
 * (Debian's build defaults point at /var/lib/nginx and /run).
 */
function config(dir: string, ports: { grpc: number; http: number }, options: NginxOptions): string {
  const timeout = options.streamTimeout ?? "1h";
  const servers = options.upstreams
    .map((u) => `    server ${u} max_fails=1 fail_timeout=2s;`)
    .join("\n");
  return `daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 1024; }
http {
  log_format upstream '$msec $server_port $request_method $uri $status upstream=$upstream_addr upstream_status=$upstream_status time=$request_time conn=$connection agent="$http_user_agent"';
  access_log ${dir}/access.log upstream;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  # Long tests send thousands of calls on one connection: no GOAWAY after 1000.
  keepalive_requests 1000000;
  client_body_timeout ${timeout};
  client_max_body_size 1m;

  # Two upstream blocks over the same instances: nginx keeps idle upstream
  # connections per block, and one shared by grpc_pass (h2) and proxy_pass
  # (HTTP/1.1) hands an h2 connection to HTTP/1.1 and back ("no connection
  # data found for keepalive http2 connection", "upstream sent no valid
  # HTTP/1.0 header"), which also marks healthy instances failed.
  upstream chat_grpc {
${servers}
    ${options.grpcKeepalive === false ? "# no keepalive" : "keepalive 32;"}
  }
  upstream chat_http {
${servers}
    keepalive 32;
  }

  # A dead instance is skipped: a refused or timed-out connection moves the
  # request on (nginx never resends a request an upstream has begun to read),
  # and the instance is left out for fail_timeout (2 s, not 10) after one
  # failure, so that one restarted on its address is back in soon.
  proxy_next_upstream error timeout;
  grpc_next_upstream error timeout;
  proxy_connect_timeout 2s;
  grpc_connect_timeout 2s;
  # Streams: forwarded as they come, never cut for being quiet. Unbuffered
  # also keeps backpressure end to end: with proxy_buffering on, nginx would
  # read a slow subscriber's stream ahead into memory and a temp file (up to
  # 1 GB), hiding it from the server's own slow-consumer limit.
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_buffering off;
  proxy_request_buffering off;
  proxy_read_timeout ${timeout};
  proxy_send_timeout ${timeout};
  grpc_read_timeout ${timeout};
  grpc_send_timeout ${timeout};

  # Native gRPC (application/grpc, +proto, ;...) but not gRPC-Web.
  map $http_content_type $native_grpc {
    "~^application/grpc($|[+;])" 1;
    default "";
  }

  server {
    listen 127.0.0.1:${ports.grpc} http2;
    location / {
      if ($native_grpc) {
        grpc_pass grpc://chat_grpc;
      }
      proxy_pass http://chat_http;
    }
  }

  server {
    listen 127.0.0.1:${ports.http};
    location / {
      proxy_pass http://chat_http;
    }
  }
}
`;
}

function connects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/**
 * Starts nginx on two free ports in front of `upstreams` and resolves once
 * both accept connections. Rejects with the error log if nginx exits first
 * (a bad config, a port taken in the meantime) or is not up within 10 s.
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  if (options.upstreams.length === 0) throw new Error("startNginx: no upstreams");
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), "chat-nginx-"));
  mkdirSync(join(dir, "tmp"));
  const ports = { grpc: await freePort(), http: await freePort() };
  const confPath = join(dir, "nginx.conf");
  writeFileSync(confPath, config(dir, ports, options));
  const errorLog = join(dir, "error.log");
  const accessLog = join(dir, "access.log");
  const log = () =>
    `${readOr(errorLog, "(no error log)")}\n--- access log ---\n${readOr(accessLog, "")}`;

  // -e: where nginx reports problems before it has read error_log from the config.
  const child = spawn(nginxPath, ["-p", dir, "-c", confPath, "-e", errorLog], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  live.set(child, dir);
  let stderr = "";
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  let failed: string | undefined;
  child.once("error", (e) => {
    failed = `cannot run ${nginxPath}: ${e.message} (Debian package nginx)`;
  });
  child.once("exit", (code, signal) => {
    live.delete(child);
    failed ??= `nginx exited (${code ?? signal})`;
  });
  // Not ref'd, like the chat subprocesses: a failed test must not hang on it.
  child.unref();
  (child.stderr as unknown as Socket | null)?.unref();

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (failed !== undefined || Date.now() > deadline) {
      const why = failed ?? "nginx did not listen within 10 s";
      child.kill("SIGKILL");
      const output = `${stderr}\n${log()}`;
      rmSync(dir, { recursive: true, force: true });
      live.delete(child);
      throw new Error(`${why}\n${output}`);
    }
    if ((await connects(ports.grpc)) && (await connects(ports.http))) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }

  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid,
    grpcUrl: `http://127.0.0.1:${ports.grpc}`,
    grpcPort: ports.grpc,
    httpUrl: `http://127.0.0.1:${ports.http}`,
    httpPort: ports.http,
    log,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = once(child, "exit");
          // SIGTERM is nginx's fast shutdown: open streams are cut, not awaited.
          child.kill("SIGTERM");
          const killer = setTimeout(() => child.kill("SIGKILL"), 5000);
          await exited;
          clearTimeout(killer);
        }
        live.delete(child);
        rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}
