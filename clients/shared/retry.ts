/**
 * Retry helpers shared by the subscription loop and sends.
 */

export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/**
 * Exponential with "equal jitter": the wait doubles per failure up to
 * `maxMs`, and is randomised in its upper half so that the clients of a
 * restarted server do not all come back at once, yet never retry instantly.
 */
export function backoffDelay(failures: number, backoff: Backoff): number {
  const ceiling = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(failures, 30));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/**
 * A v4 UUID for a client_id, also on pages where `crypto.randomUUID` is not
 * exposed (browsers offer it only on https and localhost pages).
 */
export function randomId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x40;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
