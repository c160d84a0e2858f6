import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { type BuildOptions, buildApp, type ChatServerApp } from "../../src/app.ts";
import { readSecretFile } from "../../src/auth/key-files.ts";
import { chosenRuntime } from "./runtimes.ts";
import { startSubprocessServer } from "./subprocess-server.ts";

export interface TestServer extends ChatServerApp {
  /** `http://127.0.0.1:PORT` */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Builds the real app and listens on a free loopback port. */
export async function startServer(options: BuildOptions = {}): Promise<TestServer> {
  const server = await buildApp({ logger: false, shutdownTimeoutMs: 500, ...options });
  await server.app.listen({ host: "127.0.0.1", port: 0 });
  const { port } = server.app.server.address() as AddressInfo;
  const scheme = options.tls ? "https" : "http";
  return {
    ...server,
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    close: () => server.app.close(),
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
  const server = await startSubprocessServer(runtime, args);
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
  const server = await startServerUnderTest(options);
  try {
    await body(server);
  } finally {
    await server.close();
  }
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
