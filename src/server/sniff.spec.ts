import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSniffer, maxSniffedHeadBytes } from "./sniff.ts";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder("latin1").decode(b);
const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/** Feeds `chunks` one by one; returns the index of the chunk that decided, and the result. */
function feed(...chunks: string[]) {
  const sniffer = createSniffer();
  for (const [i, chunk] of chunks.entries()) {
    const result = sniffer.push(bytes(chunk));
    if (result !== undefined)
      return { at: i, protocol: result.protocol, bytes: text(result.bytes) };
  }
  return undefined;
}

describe("createSniffer", () => {
  it("hands an HTTP/2 connection over with its complete preface, and what followed it", () => {
    assert.deepEqual(feed("PRI * HTTP/2.0\r\n", "\r\nSM\r\n\r\n\u0000\u0000"), {
      at: 1,
      protocol: "h2",
      bytes: `${preface}\u0000\u0000`,
    });
  });

  it("waits for an HTTP/1.x request head to end, however it is cut", () => {
    // "G" alone used to end sniffing.
    assert.equal(feed("G"), undefined);
    assert.equal(feed("GET / HTTP/1.1\r\n"), undefined);
    assert.equal(feed("GET / HTTP/1.1\r\nHost: x\r\n"), undefined);
    const head = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    assert.deepEqual(feed(...head.split("")), {
      at: head.length - 1,
      protocol: "http1",
      bytes: head,
    });
    // The body that came along is handed over too; bare LF line ends are accepted.
    assert.deepEqual(feed("POST / HTTP/1.0\n\nbody"), {
      at: 0,
      protocol: "http1",
      bytes: "POST / HTTP/1.0\n\nbody",
    });
  });

  it("hands over at once what cannot be a request, so that the server answers 400", () => {
    assert.equal(feed("\u0016\u0003\u0001")?.at, 0); // a TLS ClientHello
    assert.equal(feed(" GET")?.at, 0);
    assert.equal(feed("GE\u0000T / HTTP/1.1")?.at, 0);
    assert.equal(feed("A".repeat(21))?.at, 0); // longer than any method
    assert.equal(feed("MKCALENDAR / HTTP/1.1\r\n"), undefined);
  });

  it("stops waiting once a head is longer than any the server accepts", () => {
    const sniffer = createSniffer();
    const line = bytes(`GET /${"a".repeat(1000)}`);
    let pushed = 0;
    let result = sniffer.push(line);
    while (result === undefined) {
      pushed += line.length;
      result = sniffer.push(line);
    }
    assert.equal(result.protocol, "http1");
    assert.ok(pushed < maxSniffedHeadBytes && pushed + line.length >= maxSniffedHeadBytes);
  });
});
