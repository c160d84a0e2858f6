/** One length-prefixed message of gRPC, gRPC-Web and Connect streams. */
export interface Envelope {
  flags: number;
  data: Uint8Array;
}

/** Frames `data`: 1 flag byte, 4-byte big-endian length, then the bytes. */
export function envelope(data: Uint8Array, flags = 0): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt8(flags, 0);
  head.writeUInt32BE(data.length, 1);
  return Buffer.concat([head, data]);
}

/** Splits a body into envelopes; a trailing partial envelope is returned as `rest`. */
export function parseEnvelopes(body: Uint8Array): { envelopes: Envelope[]; rest: Buffer } {
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const envelopes: Envelope[] = [];
  let offset = 0;
  while (offset + 5 <= buf.length) {
    const length = buf.readUInt32BE(offset + 1);
    if (offset + 5 + length > buf.length) break;
    envelopes.push({
      flags: buf.readUInt8(offset),
      data: buf.subarray(offset + 5, offset + 5 + length),
    });
    offset += 5 + length;
  }
  return { envelopes, rest: buf.subarray(offset) };
}

/** gRPC-Web sends its trailers as the body's last envelope, flag 0x80, as header lines. */
export function grpcWebTrailers(body: Uint8Array): Record<string, string> | undefined {
  const last = parseEnvelopes(body).envelopes.find((e) => (e.flags & 0x80) !== 0);
  if (last === undefined) return undefined;
  const trailers: Record<string, string> = {};
  for (const line of Buffer.from(last.data).toString("utf8").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0)
      trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return trailers;
}
