import type { AddressInfo } from "node:net";
import { type BuildOptions, buildApp, type ChatServerApp } from "../../src/app.ts";

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

/** Resolves once `predicate` holds, checking after each macrotask; rejects after `ms`. */
export async function eventually(
  predicate: () => boolean,
  ms = 5000,
  what = "condition",
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
