import type { CallOptions } from "@connectrpc/connect";
import { type MintOptions, mintToken } from "../../../src/auth/mint.ts";

/** The HS256 secret of the servers these tests start with auth on. */
export const testSecret = new TextEncoder().encode("the e2e tests' secret, 32 bytes or more");

/** A token signed with {@link testSecret}: every room, an hour, unless told otherwise. */
export function token(sub: string, options: Partial<Omit<MintOptions, "secret" | "sub">> = {}) {
  return mintToken({ secret: testSecret, sub, ttlSec: 3600, rooms: ["*"], ...options });
}

/** Call options that send `token` as `authorization: Bearer …`. */
export function bearer(token: string, options: CallOptions = {}): CallOptions {
  return { ...options, headers: { authorization: `Bearer ${token}` } };
}
