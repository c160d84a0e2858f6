/**
 * Generators of hostile bytes for the framing fuzz suite: random and truncated prefaces,
 * invalid HTTP/2 frames, gRPC envelopes with lying length prefixes, and malformed
 * HTTP/1.1 requests. Each generator takes a seeded {@link Random}, so a case replays.
 */
import { frame, preface, type Random, settingsAck, settingsFrame } from "./hostile.ts";

/** Method paths the server serves, and a few it does not. */
export const fuzzPaths = [
  "/chat.v1.ChatService/Send",
  "/chat.v1.ChatService/Subscribe",
  "/chat.v1.ChatService/Chat",
  "/chat.v1.ChatService/GetHistory",
  "/chat.v1.ChatService/ListMembers",
  "/chat.v1.ChatService/SetTyping",
  "/grpc.ChatServer/ChatStream",
  "/grpc.ChatServer/SendNote",
  "/grpc.health.v1.Health/Check",
  "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
  "/chat.v1.ChatService/Nope",
  "/",
  "/index.html",
  "/../../etc/passwd",
];

const contentTypes = [
  "application/grpc",
  "application/grpc+proto",
  "application/grpc+json",
  "application/grpc-web+proto",
  "application/grpc-web-text",
  "application/connect+proto",
  "application/connect+json",
  "application/proto",
  "application/json",
  "text/plain",
  "",
];

/** One case: what to send (in pieces), and how the client ends its side. */
export interface ByteCase {
  kind: string;
  chunks: Buffer[];
  /** fin: half-close; destroy: reset at once; wait: keep reading until the server closes. */
  ending: "fin" | "destroy" | "wait";
}

/** A gRPC-style envelope whose length prefix may lie (up to 2^32-1). */
export function lyingEnvelope(random: Random): Buffer {
  const payload = random.bytes(random.int(48));
  const lengths = [0, payload.length, payload.length + 1 + random.int(100), 2 ** 31, 2 ** 32 - 1];
  const length = random.chance(0.3) ? random.int(2 ** 32) : random.pick(lengths);
  const head = Buffer.alloc(5);
  head.writeUInt8(random.pick([0, 0, 1, 2, 0x80, random.int(256)]), 0);
  head.writeUInt32BE(length, 1);
  const body = Buffer.concat([head, payload]);
  // Sometimes cut inside the header or the payload.
  return random.chance(0.2) ? body.subarray(0, random.int(body.length + 1)) : body;
}

/** HPACK string literal (no Huffman): a 7-bit-prefix length, then the bytes. */
function hpackString(value: string): Buffer {
  const bytes = Buffer.from(value, "latin1");
  const n = bytes.length;
  if (n < 127) return Buffer.concat([Buffer.from([n]), bytes]);
  const length = [0x7f];
  let rest = n - 127;
  while (rest >= 128) {
    length.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  length.push(rest);
  return Buffer.concat([Buffer.from(length), bytes]);
}

/** A request header block: POST, http, `path`, and `contentType` (HPACK, static table names). */
export function requestHeaderBlock(path: string, contentType: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    Buffer.from([0x04]), // :path, literal value
    hpackString(path),
    Buffer.from([0x01]), // :authority
    hpackString("fuzz"),
    Buffer.from([0x0f, 0x10]), // content-type (static index 31)
    hpackString(contentType),
    Buffer.from([0x00]), // te: trailers, literal name and value
    hpackString("te"),
    hpackString("trailers"),
  ]);
}

/** An HTTP/2 frame of random type, flags, stream and payload; its length may lie. */
function randomFrame(random: Random): Buffer {
  const type = random.chance(0.85) ? random.int(10) : random.int(256);
  const streamId = random.pick([0, 1, 3, 2, random.int(2 ** 31)]);
  const payload = random.bytes(random.int(64));
  const f = frame(type, random.int(256), streamId, payload);
  if (random.chance(0.15)) {
    // A length that does not match: longer than what follows, up to 2^24-1.
    f.writeUIntBE(random.pick([payload.length + 1, 16_384, 16_385, 2 ** 24 - 1]), 0, 3);
  }
  return f;
}

/** A gRPC call on stream 1 with a hostile body, then maybe more trouble on the same stream. */
function hostileCall(random: Random): Buffer[] {
  const path = random.pick(fuzzPaths);
  const headers = frame(1, 0x04, 1, requestHeaderBlock(path, random.pick(contentTypes)));
  const data = frame(0, random.chance(0.5) ? 0x01 : 0, 1, lyingEnvelope(random));
  const after = [
    () => frame(3, 0, 1, Buffer.from([0, 0, 0, random.int(14)])), // RST_STREAM
    () => frame(8, 0, random.pick([0, 1]), Buffer.from([0, 0, 0, 0])), // WINDOW_UPDATE of 0
    () => frame(8, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff])), // window overflow
    () => frame(2, 0, 1, Buffer.from([0, 0, 0, 1, 16])), // PRIORITY on itself
    () => frame(9, 0x04, 1, random.bytes(8)), // CONTINUATION out of place
    () => frame(7, 0, 0, Buffer.from([0, 0, 0, 0, 0, 0, 0, 2])), // GOAWAY
    () => frame(6, 0, 0, random.bytes(8)), // PING
    () => frame(1, 0x05, 1, requestHeaderBlock(path, "application/grpc")), // HEADERS again
    () => frame(0, 0x01, 1, lyingEnvelope(random)), // DATA after END_STREAM?
  ];
  const chunks = [preface, settingsFrame, settingsAck, headers, data];
  for (let i = random.int(3); i > 0; i--) chunks.push(random.pick(after)());
  return chunks;
}

const methods = ["GET", "POST", "PUT", "PRI", "OPTIONS", "HEAD", "DELETE", "FOO", "G"];

/** An HTTP/1.1 request with hostile framing: lying lengths, bad chunks, broken header lines. */
function hostileHttp1(random: Random): Buffer[] {
  const path = random.pick(fuzzPaths);
  const body = random.chance(0.6) ? lyingEnvelope(random) : random.bytes(random.int(64));
  const lines = [
    `${random.pick(methods)} ${path} ${random.pick(["HTTP/1.1", "HTTP/1.0", "HTTP/9.9", ""])}`,
  ];
  lines.push("Host: fuzz");
  if (random.chance(0.8)) lines.push(`Content-Type: ${random.pick(contentTypes)}`);
  const chunked = random.chance(0.3);
  if (chunked) lines.push("Transfer-Encoding: chunked");
  if (!chunked || random.chance(0.2)) {
    lines.push(
      `Content-Length: ${random.pick([body.length, body.length + 5, 0, 99_999_999_999, -1, "x"])}`,
    );
  }
  const extras = [
    "X-Broken header without colon",
    `X-Long: ${"a".repeat(random.pick([100, 20_000]))}`,
    "Connect-Timeout-Ms: 9999999999",
    "Grpc-Timeout: 1000H",
    "Connect-Protocol-Version: 1",
    "X-Nul: a\u0000b",
    "Expect: 100-continue",
    "Grpc-Encoding: gzip",
    "Content-Encoding: br",
  ];
  for (let i = random.int(3); i > 0; i--) lines.push(random.pick(extras));
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1");
  const payload = chunked
    ? Buffer.concat([
        Buffer.from(
          `${random.pick([body.length.toString(16), "zz", "ffffffffffff", "1;ext"])}\r\n`,
        ),
        body,
        Buffer.from(random.chance(0.5) ? "\r\n0\r\n\r\n" : "\r\n"),
      ])
    : body;
  return [head, payload];
}

/** Draws one case. */
export function drawByteCase(random: Random): ByteCase {
  const ending = random.pick(["fin", "fin", "destroy", "wait"] as const);
  const roll = random.int(100);
  if (roll < 15) {
    const starts = ["", "P", "PRI", "G", "GET ", "POST /", "\r\n", "\u0016\u0003\u0001"];
    const bytes = Buffer.concat([
      Buffer.from(random.pick(starts), "latin1"),
      random.bytes(random.int(300)),
    ]);
    return { kind: "random bytes", chunks: [bytes], ending };
  }
  if (roll < 30) {
    const cut = preface.subarray(0, random.int(preface.length + 1));
    const tail = random.chance(0.5) ? random.bytes(random.int(40)) : Buffer.alloc(0);
    return { kind: "truncated preface", chunks: [cut, tail], ending };
  }
  if (roll < 55) {
    const chunks: Buffer[] = [preface];
    if (random.chance(0.6)) chunks.push(settingsFrame);
    if (random.chance(0.4)) chunks.push(settingsAck);
    for (let i = 1 + random.int(5); i > 0; i--) chunks.push(randomFrame(random));
    return { kind: "invalid HTTP/2 frames", chunks, ending };
  }
  if (roll < 80) return { kind: "hostile gRPC call", chunks: hostileCall(random), ending };
  return { kind: "hostile HTTP/1.1 request", chunks: hostileHttp1(random), ending };
}

/** Splits `chunks` into 1 to 4 writes at random cut points (one write is the common case). */
export function splitWrites(random: Random, chunks: Buffer[]): Buffer[] {
  const all = Buffer.concat(chunks);
  const pieces = random.chance(0.7) ? 1 : 2 + random.int(3);
  const cuts = Array.from({ length: pieces - 1 }, () => random.int(all.length + 1)).sort(
    (a, b) => a - b,
  );
  const writes: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, all.length]) {
    writes.push(all.subarray(from, cut));
    from = cut;
  }
  return writes.filter((w) => w.length > 0);
}
