import { Code, ConnectError } from "@connectrpc/connect";
import {
  createLocalJWKSet,
  errors,
  type JSONWebKeySet,
  type JWSAlgorithm,
  type JWTVerifyGetKey,
  jwtVerify,
} from "jose";
import { type Identity, InvalidClaimsError, identityFromClaims } from "./identity.ts";

/**
 * How tokens are verified. Auth is on when `secret` or `jwks` is given (both
 * may be: a token's `alg` picks the key); with neither, it is off.
 */
export interface AuthenticatorOptions {
  /** Shared secret for HS256 tokens, at least 32 bytes (`--jwt-secret-file`). */
  secret?: Uint8Array;
  /** Public keys for RS256/384/512, PS256/384/512 and ES256/384/512 tokens (`--jwks-file`). */
  jwks?: JSONWebKeySet;
  /** Required `iss` claim, when set. */
  issuer?: string;
  /** Required `aud` claim (one of), when set. */
  audience?: string;
  /** Leeway for `exp` and `nbf`, in seconds. Default 0. */
  clockToleranceSec?: number;
  /** Verified tokens remembered (until they expire) to skip re-verifying them. Default 1024. */
  cacheSize?: number;
  /** Clock in ms, for tests. Default `Date.now`. */
  now?: () => number;
}

export interface Authenticator {
  /** True when tokens are verified; false when auth is off. */
  readonly enabled: boolean;
  /**
   * The caller's identity from `authorization: Bearer <JWT>` in `headers`
   * (gRPC metadata, Connect and gRPC-Web headers alike).
   *
   * - Auth off: resolves `undefined`, whatever the headers hold.
   * - Auth on: resolves the {@link Identity}, or rejects with a ConnectError
   *   `Unauthenticated` for a missing, malformed, badly signed, expired or
   *   not-yet-valid token, or one whose claims have the wrong shape. The
   *   message says which, never more (no key or claim values).
   */
  authenticate(headers: Headers): Promise<Identity | undefined>;
}

/** Minimum HS256 secret: as many bytes as the hash (RFC 7518, 3.2). */
export const minSecretBytes = 32;

const asymmetric: JWSAlgorithm[] = [
  "RS256",
  "RS384",
  "RS512",
  "PS256",
  "PS384",
  "PS512",
  "ES256",
  "ES384",
  "ES512",
];

function unauthenticated(message: string, cause?: unknown): ConnectError {
  return new ConnectError(message, Code.Unauthenticated, undefined, undefined, cause);
}

/** The token of an `authorization: Bearer <token>` header, if any. */
export function bearerToken(headers: Headers): string | undefined {
  const value = headers.get("authorization");
  if (value === null) return undefined;
  const match = /^Bearer +(\S+)$/i.exec(value.trim());
  return match?.[1];
}

/** What a failed verification tells the client: the kind of failure only. */
function rejection(e: unknown): ConnectError {
  if (e instanceof errors.JWTExpired) return unauthenticated("token expired", e);
  if (e instanceof InvalidClaimsError) return unauthenticated(`invalid token: ${e.message}`, e);
  if (e instanceof errors.JWTClaimValidationFailed) {
    return unauthenticated(`invalid token: claim ${e.claim} rejected (${e.reason})`, e);
  }
  return unauthenticated("invalid token", e);
}

/**
 * Verifies bearer JWTs with `jose`. Algorithms are fixed by the configured
 * keys (HS256 only with a secret, asymmetric only with a JWKS), so a token
 * cannot pick a weaker scheme or use a public key as an HMAC secret.
 */
export function createAuthenticator(options: AuthenticatorOptions = {}): Authenticator {
  const { secret, jwks } = options;
  if (secret === undefined && jwks === undefined) {
    return { enabled: false, authenticate: async () => undefined };
  }
  if (secret !== undefined && secret.length < minSecretBytes) {
    throw new Error(`the JWT secret must be at least ${minSecretBytes} bytes`);
  }
  const now = options.now ?? Date.now;
  const keySet = jwks === undefined ? undefined : createLocalJWKSet(jwks);
  const algorithms = [...(secret ? ["HS256"] : []), ...(keySet ? asymmetric : [])];
  const getKey: JWTVerifyGetKey = (header, token) => {
    if (header.alg === "HS256" && secret !== undefined) return secret;
    if (keySet !== undefined) return keySet(header, token);
    throw new errors.JOSEAlgNotAllowed("no key for this algorithm");
  };
  const cacheSize = options.cacheSize ?? 1024;
  /** Verified tokens: a client sends the same one on every call. */
  const cache = new Map<string, Identity>();

  async function verify(token: string): Promise<Identity> {
    const { payload } = await jwtVerify(token, getKey, {
      algorithms,
      issuer: options.issuer,
      audience: options.audience,
      clockTolerance: options.clockToleranceSec ?? 0,
      currentDate: new Date(now()),
    });
    return identityFromClaims(payload as Record<string, unknown>);
  }

  return {
    enabled: true,
    async authenticate(headers) {
      const token = bearerToken(headers);
      if (token === undefined) {
        throw unauthenticated("missing token: send authorization: Bearer <JWT>");
      }
      const cached = cache.get(token);
      if (cached !== undefined) {
        if (cached.expiresAt === undefined || cached.expiresAt.getTime() > now()) return cached;
        cache.delete(token);
      }
      let identity: Identity;
      try {
        identity = await verify(token);
      } catch (e) {
        throw rejection(e);
      }
      if (cache.size >= cacheSize) cache.clear();
      cache.set(token, identity);
      return identity;
    },
  };
}
