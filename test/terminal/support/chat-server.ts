/**
 * What the terminal specs start with: a server, and a gRPC client of it for
 * the side of a conversation that is not the terminal client.
 */
import { after, before } from "node:test";
import { type ServerWithClient, startServerWithClient } from "../../support/server.ts";
import { killChatProcesses } from "./chat-cli.ts";

/**
 * Registers the file's `before` and `after` hooks; after the tests, the chat
 * processes the file left running are killed before the server closes. The
 * returned object is filled in once `before` ran, so read it inside tests
 * only.
 */
export function useChatServer(): Omit<ServerWithClient, "close"> {
  const env = {} as ServerWithClient;
  before(async () => {
    Object.assign(env, await startServerWithClient());
  });
  after(async () => {
    killChatProcesses();
    await env.close?.();
  });
  return env;
}
