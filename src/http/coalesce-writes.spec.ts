import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { coalesceWrites } from "./coalesce-writes.ts";

/** An h2c server whose one handler gets a coalescing response, and a client for it. */
async function withH2(
  handler: (res: http2.Http2ServerResponse) => void,
  body: (client: http2.ClientHttp2Session) => Promise<void>,
): Promise<void> {
  const server = http2.createServer((_req, res) => {
    coalesceWrites(res);
    res.writeHead(200);
    handler(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    await body(client);
  } finally {
    client.destroy();
    await new Promise((r) => server.close(r));
  }
}

function request(client: http2.ClientHttp2Session) {
  const stream = client.request({ ":path": "/" });
  stream.end();
  return stream;
}

describe("coalesced writes", () => {
  it("sends the chunks of one turn as one write, in order and intact", async () => {
    const chunks = Array.from({ length: 200 }, (_, i) => Buffer.from(`<${i}>`));
    await withH2(
      (res) => {
        for (const c of chunks) res.write(c);
        res.end();
      },
      async (client) => {
        const received: Buffer[] = [];
        const stream = request(client);
        stream.on("data", (d: Buffer) => received.push(d));
        await new Promise((r) => stream.on("end", r));
        assert.equal(Buffer.concat(received).toString(), Buffer.concat(chunks).toString());
        assert.ok(received.length < 5, `${received.length} DATA chunks for 200 writes`);
      },
    );
  });

  it("keeps back-pressure: false past the high-water mark, then drain once written", async () => {
    const results: boolean[] = [];
    let drained: Promise<void> = Promise.resolve();
    await withH2(
      (res) => {
        const kb = Buffer.alloc(1024);
        for (let i = 0; i < 20; i++) results.push(res.write(kb));
        drained = new Promise((r) => res.once("drain", () => r()));
        drained.then(() => res.end());
      },
      async (client) => {
        const stream = request(client);
        stream.resume();
        await new Promise((r) => stream.on("end", r));
        await drained;
        assert.equal(results.indexOf(false), 15, "false once 16 KiB are queued");
      },
    );
  });

  it("fails writes after the client left, through the callback", async () => {
    let closedWrite: Promise<{ accepted: boolean; code: unknown }> | undefined;
    await withH2(
      (res) => {
        res.write(Buffer.from("first"));
        res.once("close", () => {
          closedWrite = new Promise((resolve) => {
            const accepted = res.write(Buffer.from("late"), (err) =>
              resolve({ accepted, code: (err as { code?: unknown } | null)?.code }),
            );
          });
        });
      },
      async (client) => {
        const stream = request(client);
        await new Promise((r) => stream.once("data", r));
        stream.close(http2.constants.NGHTTP2_CANCEL);
        await new Promise((r) => setTimeout(r, 100));
        assert.deepEqual(await closedWrite, { accepted: false, code: "ERR_STREAM_DESTROYED" });
      },
    );
  });
});
