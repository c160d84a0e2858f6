/**
 * What most browser specs start with: an in-process server, headless
 * Chromium and a gRPC transport to the server, started before the file's
 * tests and closed after them.
 */
import { after, before } from "node:test";
import type { Browser } from "playwright-core";
import type { BuildOptions } from "../../../src/app.ts";
import { startServer, type TestServer } from "../../support/server.ts";
import { createTestTransport, type TestTransport } from "../../support/transports.ts";
import { ensureWebClientBuilt } from "../../support/web-client.ts";
import { launchBrowser } from "./browser.ts";

export interface BrowserEnv {
  readonly server: TestServer;
  readonly browser: Browser;
  /** gRPC over h2c to the server, for the side of a conversation that is not a page. */
  readonly grpc: TestTransport;
}

/**
 * Registers the file's `before` and `after` hooks; the returned object is
 * filled in once `before` ran, so read it inside tests only.
 */
export function useBrowserEnv(options: BuildOptions = {}): BrowserEnv {
  const env = {} as { server: TestServer; browser: Browser; grpc: TestTransport };
  before(async () => {
    await ensureWebClientBuilt();
    [env.server, env.browser] = await Promise.all([startServer(options), launchBrowser()]);
    env.grpc = createTestTransport(env.server.url, "grpc");
  });
  after(async () => {
    env.grpc?.close();
    await env.browser?.close();
    await env.server?.close();
  });
  return env;
}
