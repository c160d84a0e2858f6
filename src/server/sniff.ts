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

/**
 * The most bytes of an HTTP/1.x request head waited for: Node's default header limit
 * (16 KiB) plus a request line of 8 KiB. Past it the HTTP/1.1 server takes over and
 * answers 431 or 400.
 */
export const maxSniffedHeadBytes = 24 * 1024;

/** Longer than any method Node's parser knows (the longest, BASELINE-CONTROL, has 16). */
const maxMethodLength = 20;

/** A connection's first bytes, and the server they go to once known. */
export interface SniffResult {
  protocol: SniffedProtocol;
  /** Every byte received so far, to be replayed to that server. */
  bytes: Uint8Array;
}

/** Reads a new connection's first bytes until it can be handed to its server. */
export interface Sniffer {
  /** Adds bytes as they arrive; returns the result once the connection can be handed over. */
  push(chunk: Uint8Array): SniffResult | undefined;
}

/**
 * A connection is handed over once its HTTP/2 preface is complete, or, for HTTP/1.x, once
 * its first request head is complete (the empty line after the headers). Until then it is
 * bound by the sniffing deadline alone: a client that sends "G" and nothing more is closed
 * at that deadline instead of getting the HTTP/1.1 server's longer header timeout.
 *
 * Bytes that cannot begin a request (a method that is not a short token) and heads
 * longer than {@link maxSniffedHeadBytes} are handed over at once: the HTTP/1.1 server
 * answers them with an error and closes. Each byte is looked at once, so trickling bytes
 * one at a time costs linear time, and chunks are joined only at the end.
 */
export function createSniffer(): Sniffer {
  const chunks: Uint8Array[] = [];
  let length = 0;
  let protocol: SniffedProtocol | undefined;
  /** HTTP/1.x: bytes scanned so far, whether the method was checked, the last two bytes. */
  let scanned = 0;
  let methodChecked = false;
  let last = -1;
  let beforeLast = -1;

  const joined = (): Uint8Array => {
    if (chunks.length === 1) return chunks[0] as Uint8Array;
    const all = new Uint8Array(length);
    let offset = 0;
    for (const chunk of chunks) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    chunks.length = 0;
    chunks.push(all);
    return all;
  };

  /** Scans `chunk` (the bytes after `scanned`) for the end of the head. */
  const headComplete = (chunk: Uint8Array): boolean => {
    if (!methodChecked) {
      const verdict = checkMethod(joined());
      if (verdict === "bad") return true;
      methodChecked = verdict === "ok";
    }
    for (const byte of chunk) {
      // An empty line: LF LF, or LF CR LF.
      if (byte === 0x0a && (last === 0x0a || (last === 0x0d && beforeLast === 0x0a))) return true;
      beforeLast = last;
      last = byte;
    }
    scanned += chunk.length;
    return scanned >= maxSniffedHeadBytes;
  };

  return {
    push(chunk) {
      chunks.push(chunk);
      length += chunk.length;
      if (protocol === undefined) {
        // Undecided means fewer than 24 bytes so far: joining them is cheap.
        protocol = sniffProtocol(joined());
        if (protocol === undefined) return undefined;
        if (protocol === "h2") return { protocol, bytes: joined() };
        // Everything so far is new to the head scan.
        return headComplete(joined()) ? { protocol, bytes: joined() } : undefined;
      }
      return headComplete(chunk) ? { protocol, bytes: joined() } : undefined;
    },
  };
}

/** Whether `bytes` start with a plausible method followed by a space; undecided while short. */
function checkMethod(bytes: Uint8Array): "ok" | "bad" | undefined {
  const n = Math.min(bytes.length, maxMethodLength + 1);
  for (let i = 0; i < n; i++) {
    const byte = bytes[i] as number;
    if (byte === 0x20) return i === 0 ? "bad" : "ok";
    if (!isTokenChar(byte)) return "bad";
  }
  return bytes.length > maxMethodLength ? "bad" : undefined;
}

/** RFC 9110 tchar: the characters a method may have. */
function isTokenChar(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) || // 0-9
    (byte >= 0x41 && byte <= 0x5a) || // A-Z
    (byte >= 0x61 && byte <= 0x7a) || // a-z
    "!#$%&'*+-.^_`|~".includes(String.fromCharCode(byte))
  );
}
