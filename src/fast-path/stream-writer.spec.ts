import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { detectStreamProtocol } from "./stream-protocols.ts";
import { StreamWriter } from "./stream-writer.ts";

/** A real HTTP/1.1 server whose one response is written by `body`; returns the bytes received. */
async function exchange(body: (writer: StreamWriter) => void): Promise<Buffer> {
  const protocol = detectStreamProtocol({ "content-type": "application/connect+proto" }, "1.1");
  assert.ok(protocol);
  const server = http.createServer((_req, res) => {
    const writer = new StreamWriter(res, protocol, {}, 1 << 20);
    res.once("close", () => writer.onClose());
    body(writer);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: "POST" });
    return Buffer.from(await res.arrayBuffer());
  } finally {
    server.close();
  }
}

function envelopes(body: Buffer): { flags: number; length: number }[] {
  const out: { flags: number; length: number }[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    out.push({ flags: body.readUInt8(at), length });
    at += 5 + length;
  }
  return out;
}

describe("stream writer", () => {
  it("ends with the end-stream frame after frames queued in the same turn", async () => {
    const body = await exchange((writer) => {
      writer.write(encodeEnvelope(0, new Uint8Array(10)));
      writer.write(encodeEnvelope(0, new Uint8Array(20)));
      writer.end(new ConnectError("bye", Code.Unauthenticated));
    });
    const frames = envelopes(body);
    assert.deepEqual(
      frames.map((f) => f.flags),
      [0, 0, 2],
    );
    const end = JSON.parse(body.subarray(body.length - (frames[2]?.length ?? 0)).toString());
    assert.equal(end.error.code, "unauthenticated");
  });

  it("joins a turn's frames into one write, and writes a large backlog frame by frame", async () => {
    const small = Array.from({ length: 50 }, (_, i) => encodeEnvelope(0, new Uint8Array(i)));
    const large = Array.from({ length: 10 }, () => encodeEnvelope(0, new Uint8Array(4000)));
    const body = await exchange((writer) => {
      for (const f of small) writer.write(f);
      setImmediate(() => {
        for (const f of large) writer.write(f);
        setImmediate(() => writer.end(undefined));
      });
    });
    assert.deepEqual(
      envelopes(body).map((f) => f.length),
      [...small.map((f) => f.length - 5), ...large.map(() => 4000), 2],
    );
  });

  it("refuses a frame that would put it over its budget", async () => {
    const protocol = detectStreamProtocol({ "content-type": "application/connect+proto" }, "1.1");
    assert.ok(protocol);
    let refused = false;
    const server = http.createServer((_req, res) => {
      const writer = new StreamWriter(res, protocol, {}, 100);
      assert.equal(writer.write(encodeEnvelope(0, new Uint8Array(60))), true);
      refused = !writer.write(encodeEnvelope(0, new Uint8Array(60)));
      writer.end(undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const res = await fetch(`http://127.0.0.1:${port}/`, { method: "POST" });
      const frames = envelopes(Buffer.from(await res.arrayBuffer()));
      assert.ok(refused, "the second frame was over budget");
      assert.deepEqual(
        frames.map((f) => f.length),
        [60, 2],
      );
    } finally {
      server.close();
    }
  });
});
