import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { type Client, createClient } from "@connectrpc/connect";
import { type BuildOptions, buildApp, type ChatServerApp } from "../../src/app.ts";
import { readSecretFile } from "../../src/auth/key-files.ts";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { chosenRuntime } from "./runtimes.ts";
import { spawnServer } from "./subprocess-server.ts";
import { createTestTransport } from "./transports.ts";

export interface TestServer extends ChatServerApp {
  /** `http://127.0.0.1:PORT` (https with TLS) */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Listens with an app that is already built on 127.0.0.1: `port`, or a free
 * one (default 0). For a test that adds hooks before listening; else {@link startServer}.
 */
export async function listenApp(
  server: ChatServerApp,
  { port = 0, tls = false }: { port?: number; tls?: boolean } = {},
): Promise<TestServer> {
  await server.app.listen({ host: "127.0.0.1", port });
  const actual = (server.app.server.address() as AddressInfo).port;
  return {
    ...server,
    url: `${tls ? "https" : "http"}://127.0.0.1:${actual}`,
    port: actual,
    close: () => server.app.close(),
  };
}

/** What {@link startServer} takes: the app's options, and the port (default 0: a free one). */
export interface StartServerOptions extends BuildOptions {
  /** A restart test starts its second server on the first one's port. */
  port?: number;
}

/**
 * Builds the real app in this process and listens on loopback. Defaults for
 * tests: no logger, a 500 ms shutdown timeout (tests close servers with streams open).
 */
export async function startServer(options: StartServerOptions = {}): Promise<TestServer> {
  const { port, ...build } = options;
  const server = await buildApp({ logger: false, shutdownTimeoutMs: 500, ...build });
  return listenApp(server, { port, tls: !!options.tls });
}

/** Runs `body` against a fresh {@link startServer} server, closed afterwards whatever happens. */
export async function withServer(
  body: (server: TestServer) => Promise<void>,
  options: StartServerOptions = {},
): Promise<void> {
  await runThenClose(await startServer(options), body);
}

/** Runs `body` with `server`, then closes it whatever happens. */
async function runThenClose<S extends { close(): Promise<void> }>(
  server: S,
  body: (server: S) => Promise<void>,
): Promise<void> {
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** A {@link startServer} server and a gRPC client of it, closed together. */
export interface ServerWithClient {
  server: TestServer;
  client: Client<typeof ChatService>;
  /** Drops the client's connection, then closes the server. */
  close(): Promise<void>;
}

/** For specs that drive something else (a CLI, a page) and check what the server holds. */
export async function startServerWithClient(
  options: StartServerOptions = {},
): Promise<ServerWithClient> {
  const server = await startServer(options);
  const grpc = createTestTransport(server.url, "grpc");
  return {
    server,
    client: createClient(ChatService, grpc.transport),
    async close() {
      grpc.close();
      await server.close();
    },
  };
}

/**
 * A server the e2e protocol suite runs against: in this process (the
 * default), or `src/main.ts` as a subprocess under the runtime named by
 * `CHAT_TEST_RUNTIME` (node, node-lts, bun, deno); see test/runtimes/.
 */
export interface ServerUnderTest {
  url: string;
  port: number;
  /**
   * Open subscriptions (of `room`, or in all rooms). Known in-process only:
   * a subprocess cannot report them, so clean-up is asserted by `npm test`.
   */
  subscriberCount: ((room?: string) => number) | undefined;
  /** Process warnings (MaxListenersExceeded, deprecations) the server raised since it started. */
  warnings(): string[];
  close(): Promise<void>;
}

/** What the suite may ask of a server either way: the CLI flags' equivalents. */
export interface ServerUnderTestOptions {
  /** Default 500 (shorter than the CLI's 5 s: tests close servers with streams open). */
  shutdownTimeoutMs?: number;
  sniffTimeoutMs?: number;
  /** PEM files; serve TLS (h2 and HTTP/1.1 by ALPN). */
  tls?: { certFile: string; keyFile: string };
  /** HS256 secret file: auth on (`--jwt-secret-file`). */
  jwtSecretFile?: string;
}

/** Starts a server in-process or as a subprocess, as `CHAT_TEST_RUNTIME` says. */
export async function startServerUnderTest(
  options: ServerUnderTestOptions = {},
): Promise<ServerUnderTest> {
  const runtime = chosenRuntime();
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 500;
  if (runtime === undefined) {
    const server = await startServer({
      shutdownTimeoutMs,
      sniffTimeoutMs: options.sniffTimeoutMs,
      tls: options.tls && {
        cert: readFileSync(options.tls.certFile),
        key: readFileSync(options.tls.keyFile),
      },
      auth: options.jwtSecretFile ? { secret: readSecretFile(options.jwtSecretFile) } : undefined,
    });
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on("warning", onWarning);
    return {
      url: server.url,
      port: server.port,
      subscriberCount: (room) => server.rooms.subscriberCount(room),
      warnings: () => warnings,
      close: () => server.close().finally(() => process.off("warning", onWarning)),
    };
  }
  const args = ["--shutdown-timeout-ms", String(shutdownTimeoutMs)];
  if (options.sniffTimeoutMs !== undefined) {
    args.push("--sniff-timeout-ms", String(options.sniffTimeoutMs));
  }
  if (options.tls) args.push("--tls-cert", options.tls.certFile, "--tls-key", options.tls.keyFile);
  if (options.jwtSecretFile) args.push("--jwt-secret-file", options.jwtSecretFile);
  const server = await spawnServer(runtime, args);
  return {
    url: server.url,
    port: server.port,
    subscriberCount: undefined,
    // Node prints "(node:PID) XWarning: ...", Deno and Bun print "Warning: ..." or "warning: ...".
    warnings: () => server.stderr.filter((line) => /warning/i.test(line)),
    close: server.close,
  };
}

/** Runs `body` against a fresh {@link startServerUnderTest} server, closed afterwards whatever happens. */
export async function withServerUnderTest(
  body: (server: ServerUnderTest) => Promise<void>,
  options: ServerUnderTestOptions = {},
): Promise<void> {
  await runThenClose(await startServerUnderTest(options), body);
}

/**
 * Waits until the server holds no subscription of `room` (or none at all)
 * when it can tell (in-process); see {@link ServerUnderTest.subscriberCount}.
 */
export async function subscriptionsClosed(
  server: ServerUnderTest,
  room?: string,
  ms = 3000,
): Promise<void> {
  const count = server.subscriberCount;
  if (count === undefined) return;
  await eventually(
    () => count(room) === 0,
    ms,
    `no subscription left open${room ? ` in ${room}` : ""}`,
  );
}

/** Resolves once `predicate` holds, checking after each macrotask; rejects after `ms`. */
export async function eventually(
  predicate: () => boolean | Promise<boolean>,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
