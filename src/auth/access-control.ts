import { createContextValues, type Interceptor } from "@connectrpc/connect";
import type { FastifyRequest } from "fastify";
import { ChatService } from "../gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../gen/grpc/chat_pb.ts";
import { checkHeld, createRateLimitInterceptor } from "../rate-limit/interceptor.ts";
import {
  createRateLimits,
  type RateLimited,
  type RateLimitOptions,
  type RateLimits,
  rateLimitKey,
} from "../rate-limit/rate-limits.ts";
import {
  type Authenticator,
  type AuthenticatorOptions,
  createAuthenticator,
} from "./authenticator.ts";
import { peerAddressKey } from "./context.ts";
import type { Identity } from "./identity.ts";
import { createAuthInterceptor } from "./interceptor.ts";

export interface AccessControlOptions {
  /** Token verification; auth is off without a secret or a JWKS. */
  auth?: AuthenticatorOptions;
  /** Per-caller rates; see `defaultRateLimits`. */
  rateLimits?: Partial<RateLimitOptions>;
}

/**
 * Who may call the chat services and how often, in one place for every path
 * that serves them. The Connect routes use `interceptors` and
 * `contextValues`; a path that bypasses Connect (the streaming fast path)
 * calls `authenticator.authenticate`, the checks of `checks.ts`,
 * `identityDeadline` and `rateLimits.check` itself, in that order.
 */
export interface AccessControl {
  authenticator: Authenticator;
  rateLimits: RateLimits;
  /** Authentication, then rate limits; they read `contextValues`. */
  interceptors: Interceptor[];
  /** Context values of each call: the client's address, for anonymous rate limits. */
  contextValues(req: FastifyRequest): ReturnType<typeof createContextValues>;
  /**
   * Admits a call of a chat service served outside Connect (the fast
   * paths), doing what the interceptors do for Connect's: authenticates
   * `headers` (auth off: resolves undefined), then counts one `kind` (a new
   * stream, a send, a typing notice) against the caller's rate limit
   * (`address`: the TCP peer, for anonymous callers). Rejects with a
   * ConnectError, Unauthenticated or ResourceExhausted (the latter with
   * `retry-after-ms` metadata: send it as trailers), a refusal held as the
   * interceptor holds it (or until `signal` aborts). For a stream, then:
   * `subscribeParams`/`seedStreamParams` with the identity (read access and
   * presence name), and `identityDeadline(identity, signal)` for the signal
   * to subscribe with, cleared when the stream ends.
   */
  admit(
    kind: RateLimited,
    headers: Headers,
    address: string | undefined,
    signal: AbortSignal,
  ): Promise<Identity | undefined>;
}

/** The services that need a token when auth is on; health and reflection stay open. */
const chatServices = new Set([ChatService.typeName, ChatServer.typeName]);

export function createAccessControl(options: AccessControlOptions = {}): AccessControl {
  const authenticator = createAuthenticator(options.auth);
  const rateLimits = createRateLimits(options.rateLimits);
  return {
    authenticator,
    rateLimits,
    interceptors: [
      createAuthInterceptor(authenticator, chatServices),
      createRateLimitInterceptor(rateLimits),
    ],
    contextValues: (req) => createContextValues().set(peerAddressKey, req.ip),
    async admit(kind, headers, address, signal) {
      const identity = await authenticator.authenticate(headers);
      await checkHeld(rateLimits, kind, rateLimitKey(identity, address), signal);
      return identity;
    },
  };
}
