import { Code, ConnectError } from "@connectrpc/connect";
import type { Identity } from "../auth/identity.ts";
import { createKeyedTokenBuckets, type Rate } from "./token-bucket.ts";

/** What is rate-limited, each with its own bucket per caller. */
export type RateLimited = "sends" | "streams" | "typing";

/**
 * Rates per caller (per identity with auth on, per IP address otherwise);
 * a rate with `count` 0 is unlimited. The defaults are generous: no person
 * typing comes near them, and a script or test on loopback rarely does.
 */
export interface RateLimitOptions {
  /** Messages sent (Send, Chat sends, SendNote). Default 1000 per 10 s. */
  sends: Rate;
  /** Streams opened (Subscribe, Chat, ChatStream). Default 1000 per 10 s. */
  streams: Rate;
  /** Typing notices (SetTyping, Chat typing). Default 200 per 10 s. */
  typing: Rate;
  /**
   * How long a refusal is held before it is sent: the announced wait,
   * bounded by these (see {@link RateLimits.holdMs}). Default 250 ms to 2 s.
   */
  refusalHoldMs: { min: number; max: number };
  /**
   * Limit anonymous callers on a loopback address too. Default false: a
   * loopback caller is local, a benchmark or a reverse proxy in front of
   * the server, and a proxy's clients all share its address, so one bucket
   * for all of them would throttle everyone together. Put auth on to limit
   * them per identity, or turn this on when loopback means one user.
   */
  limitLoopback: boolean;
}

export const defaultRateLimits: RateLimitOptions = {
  sends: { count: 1000, perMs: 10_000 },
  streams: { count: 1000, perMs: 10_000 },
  typing: { count: 200, perMs: 10_000 },
  limitLoopback: false,
  refusalHoldMs: { min: 250, max: 2000 },
};

/** Header (Connect unary) or trailer (gRPC, gRPC-Web, streams) carrying the retry hint. */
export const retryAfterMsKey = "retry-after-ms";

export interface RateLimits {
  /**
   * Counts one `kind` for caller `key` (see {@link rateLimitKey}). Throws a
   * ConnectError `ResourceExhausted` when over the limit, with the wait in
   * its message and in the `retry-after-ms` metadata; nothing is counted
   * then, so a client that waits that long gets through.
   */
  check(kind: RateLimited, key: string): void;
  /**
   * How long to hold a refusal from {@link check} before sending it, given
   * its `retry-after-ms` wait: the wait itself, at least 250 ms, at most 2 s
   * by default. A refusal costs the server a request's work either way;
   * answered at once, a client that ignores the hint turns its calls in
   * flight into thousands of refusals a second (32 in flight: 128/s at
   * most when held). A client that honours the hint loses nothing.
   */
  holdMs(waitMs: number): number;
}

/**
 * The caller a limit applies to: the token's subject, or the client's IP
 * address when anonymous (auth off). One person's tokens share one bucket;
 * anonymous callers behind one address (a NAT) share theirs.
 */
export function rateLimitKey(identity: Identity | undefined, address: string | undefined): string {
  return identity === undefined ? `ip:${address ?? "unknown"}` : `sub:${identity.sub}`;
}

/** An anonymous caller's key on 127.0.0.0/8 or ::1 (IPv4-mapped too). */
function isLoopbackKey(key: string): boolean {
  return key.startsWith("ip:127.") || key === "ip:::1" || key.startsWith("ip:::ffff:127.");
}

const what: Record<RateLimited, string> = {
  sends: "messages sent",
  streams: "streams opened",
  typing: "typing notices",
};

export function createRateLimits(
  options: Partial<RateLimitOptions> = {},
  now?: () => number,
): RateLimits {
  const rates = { ...defaultRateLimits, ...options };
  const buckets = {
    sends: createKeyedTokenBuckets({ rate: rates.sends, now }),
    streams: createKeyedTokenBuckets({ rate: rates.streams, now }),
    typing: createKeyedTokenBuckets({ rate: rates.typing, now }),
  };
  const hold = rates.refusalHoldMs;
  return {
    holdMs: (waitMs) => Math.min(hold.max, Math.max(hold.min, waitMs)),
    check(kind, key) {
      if (!rates.limitLoopback && isLoopbackKey(key)) return;
      const waitMs = buckets[kind].take(key);
      if (waitMs === 0) return;
      const { count, perMs } = rates[kind];
      throw new ConnectError(
        `rate limit: too many ${what[kind]} (at most ${count} per ${perMs} ms); retry in ${waitMs} ms`,
        Code.ResourceExhausted,
        { [retryAfterMsKey]: String(waitMs) },
      );
    },
  };
}
