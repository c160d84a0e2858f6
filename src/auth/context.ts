import { createContextKey } from "@connectrpc/connect";
import type { Identity } from "./identity.ts";

/**
 * The caller's verified identity, set by the auth interceptor on every call
 * of the chat services; `undefined` when auth is off. Handlers read it with
 * `ctx.values.get(identityKey)` and pass it to the checks in `checks.ts`.
 */
export const identityKey = createContextKey<Identity | undefined>(undefined, {
  description: "the caller's verified identity",
});

/**
 * The client's IP address (the TCP peer), set from the Fastify request for
 * every call: rate limits count per address when the caller is anonymous.
 */
export const peerAddressKey = createContextKey<string | undefined>(undefined, {
  description: "the client's IP address",
});
