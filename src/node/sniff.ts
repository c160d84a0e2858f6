/** Which server a cleartext connection belongs to, judged from its first bytes. */
export type SniffedProtocol = "h2" | "http1";

/** The HTTP/2 client connection preface (RFC 9113 section 3.4), 24 bytes. */
export const http2Preface: Uint8Array = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/**
 * Tells an HTTP/2 prior-knowledge connection from an HTTP/1.x one.
 *
 * Returns undefined while the bytes seen so far are still a prefix of the preface:
 * "P", "PR" or even "PRI * HTTP/2.0\r\n\r\n" could yet turn into a POST, PUT, PATCH or
 * an HTTP/1.x request with the method "PRI", so only a differing byte or the complete
 * preface decides.
 */
export function sniffProtocol(bytes: Uint8Array): SniffedProtocol | undefined {
  const n = Math.min(bytes.length, http2Preface.length);
  for (let i = 0; i < n; i++) {
    if (bytes[i] !== http2Preface[i]) {
      return "http1";
    }
  }
  return bytes.length >= http2Preface.length ? "h2" : undefined;
}
