/**
 * A server that can be stopped and started again on the same port, as a
 * deployment restart looks to a browser: same URL, a new process state.
 */
import type { AddressInfo } from "node:net";
import { type BuildOptions, buildApp } from "../../../src/app.ts";
import type { TestServer } from "../../support/server.ts";

/** Like startServer(), on a given port (0: any free one). */
export async function startServerOn(port: number, options: BuildOptions = {}): Promise<TestServer> {
  const server = await buildApp({ logger: false, shutdownTimeoutMs: 500, ...options });
  await server.app.listen({ host: "127.0.0.1", port });
  const actual = (server.app.server.address() as AddressInfo).port;
  return {
    ...server,
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    close: () => server.app.close(),
  };
}
