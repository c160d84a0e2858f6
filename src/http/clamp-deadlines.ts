import type { IncomingHttpHeaders } from "node:http";
import type { FastifyInstance } from "fastify";

/**
 * The longest timer every runtime arms as asked: 2^31-1 ms (about 24.8
 * days). A longer `setTimeout` fires after 1 ms instead (Node prints a
 * TimeoutOverflowWarning).
 */
export const maxDeadlineMs = 2 ** 31 - 1;

/** Milliseconds per gRPC timeout unit (the gRPC over HTTP/2 spec, "Timeout"). */
const grpcUnitMs: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1000,
  m: 1,
  u: 0.001,
  n: 0.000_001,
};

/**
 * `maxDeadlineMs` in gRPC's notation: whole seconds, since the value has at
 * most 8 digits (2147483647m would need 10).
 */
const maxGrpcTimeout = `${Math.floor(maxDeadlineMs / 1000)}S`;

/**
 * A `grpc-timeout` value whose deadline is too far to arm a timer for,
 * replaced by the longest one that can be armed; anything else (short,
 * malformed, absent) unchanged, for Connect to accept or reject as usual.
 */
export function clampGrpcTimeout(value: string): string {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (match === null) return value;
  const ms = Number(match[1]) * (grpcUnitMs[match[2] ?? ""] ?? 0);
  return ms > maxDeadlineMs ? maxGrpcTimeout : value;
}

/** The same for Connect's `connect-timeout-ms` (at most 10 digits, in ms). */
export function clampConnectTimeout(value: string): string {
  return /^\d{1,10}$/.test(value) && Number(value) > maxDeadlineMs ? String(maxDeadlineMs) : value;
}

/**
 * Rewrites over-long client deadlines before Connect reads them.
 *
 * `grpc-timeout: 1000H` or `connect-timeout-ms: 9999999999` are valid and
 * mean "practically no deadline", but Connect-ES arms a `setTimeout` with the
 * value as it is, which fires after 1 ms: such calls ended with
 * DeadlineExceeded at once. Clamping to `maxDeadlineMs` keeps the meaning
 * (the call may run for weeks) and works the same on Node, Bun and Deno.
 * gRPC-Web sends `grpc-timeout` too.
 */
export function registerDeadlineClamp(app: FastifyInstance): void {
  app.addHook("onRequest", (req, _reply, done) => {
    // Connect reads the raw request's headers, so that is what must change.
    clampDeadlines(req.raw.headers);
    done();
  });
}

/** Clamps a request's deadline headers in place (see {@link registerDeadlineClamp}). */
export function clampDeadlines(headers: IncomingHttpHeaders): void {
  const grpc = headers["grpc-timeout"];
  if (typeof grpc === "string") headers["grpc-timeout"] = clampGrpcTimeout(grpc);
  const connect = headers["connect-timeout-ms"];
  if (typeof connect === "string") headers["connect-timeout-ms"] = clampConnectTimeout(connect);
}
