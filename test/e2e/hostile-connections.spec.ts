/**
 * Connections that hold a slot without using it (issue 11, bug 2), and the per-IP
 * connection limit. Each attack runs from 127.0.0.1 while a well-behaved client connects
 * from 127.0.0.2 (see `bystanderAddress`), so per-IP limits can tell them apart.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { create, toBinary } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { ChatService, SendRequestSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { withServer } from "../support/server.ts";
import { makeTestDir } from "../support/temp-dir.ts";
import { makeTestCert, type TestCert } from "../support/tls-cert.ts";
import { createTestTransport } from "../support/transports.ts";
import { envelope } from "./support/envelope.ts";
import {
  bystander,
  bystanderAddress,
  closedWithin,
  connections,
  connectionsDropTo,
  frame,
  preface,
  rawConnect,
  sendAsNewcomer,
  settingsFrame,
} from "./support/hostile.ts";
import { subscribe } from "./support/subscribe.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A SETTINGS frame whose length is no multiple of 6: a connection error (FRAME_SIZE_ERROR). */
const invalidSettings = frame(4, 0, 0, new Uint8Array(4));

/**
 * The attack: the preface, an invalid frame, then FIN. The server answers GOAWAY;
 * resolves with how long the server took to close its side after that.
 */
async function halfCloseWithInvalidFrame(port: number, boundMs: number): Promise<number> {
  const socket = await rawConnect(port);
  socket.end(Buffer.concat([preface, invalidSettings]));
  return closedWithin(socket, boundMs);
}

describe("half-closed and stalled connections (issue 11, bug 2)", { timeout: 60_000 }, () => {
  it("an HTTP/2 connection that sent an invalid frame and FIN is released within the sniff timeout, and newcomers still get in meanwhile", () =>
    withServer(
      async (server) => {
        // Bound: the client must acknowledge our SETTINGS within sniffTimeoutMs (1 s here);
        // before the fix the socket stayed in CLOSE-WAIT for the 72 s idle timeout.
        const boundMs = 1000 + 500;
        const releases: Promise<number>[] = [];
        const newcomers: Promise<number>[] = [];
        // 20 a second for 4 s: 80 connections, twice the cap of 40. Before the fix the
        // cap was full after 2 s and newcomers were refused.
        for (let i = 0; i < 80; i++) {
          releases.push(halfCloseWithInvalidFrame(server.port, boundMs));
          if (i >= 40 && i % 5 === 0) newcomers.push(sendAsNewcomer(server.url, "newcomers", 3000));
          await sleep(50);
        }
        const released = await Promise.all(releases);
        const latencies = await Promise.all(newcomers);
        assert.ok(Math.max(...released) < boundMs, `released within ${Math.max(...released)} ms`);
        assert.ok(
          Math.max(...latencies) < 2000,
          `newcomers' Sends took ${latencies.join(", ")} ms`,
        );
        await connectionsDropTo(server, 0, 1000);
      },
      { maxConnections: 40, maxConnectionsPerIp: 0, sniffTimeoutMs: 1000 },
    ));

  it("a connection that sends part of an HTTP/1.1 request head is closed at the sniff timeout", () =>
    withServer(
      async (server) => {
        // Before the fix, "G" alone ended sniffing and got the HTTP/1.1 server's 60 s.
        for (const head of [
          "G",
          "GET / HTTP/1.1\r\n",
          "POST /chat.v1.ChatService/Send HTTP/1.1\r\nHost: x\r\n",
        ]) {
          const socket = await rawConnect(server.port);
          socket.write(head);
          const ms = await closedWithin(socket, 1500).catch((e: Error) => {
            throw new Error(`${JSON.stringify(head)}: ${e.message}`);
          });
          assert.ok(ms >= 400, `${JSON.stringify(head)} closed after ${ms} ms, before the timeout`);
        }
        await connectionsDropTo(server, 0, 500);
      },
      { sniffTimeoutMs: 500 },
    ));

  it("an HTTP/2 client that never acknowledges the server's SETTINGS is closed", () =>
    withServer(
      async (server) => {
        const socket = await rawConnect(server.port);
        socket.write(Buffer.concat([preface, settingsFrame]));
        // The preface within sniffTimeoutMs, then the acknowledgement within as long again.
        await closedWithin(socket, 2 * 500 + 500);
      },
      { sniffTimeoutMs: 500 },
    ));

  it("a later HTTP/1.1 request on a kept-alive connection has the sniff timeout for its head", () =>
    withServer(
      async (server) => {
        const socket = await rawConnect(server.port);
        let response = "";
        socket.on("data", (d: Buffer) => {
          response += d.toString("latin1");
        });
        socket.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        await sleep(200);
        assert.match(response, /^HTTP\/1\.1 /);
        socket.write("GET /healthz HTTP/1.1\r\nHo");
        // headersTimeout (the sniff timeout) plus Node's check interval (at most 1 s).
        await closedWithin(socket, 500 + 500 + 500);
      },
      { sniffTimeoutMs: 500 },
    ));
});

describe("request bodies that never complete (issue 11, bug 2)", { timeout: 60_000 }, () => {
  const sendBody = envelope(
    toBinary(SendRequestSchema, create(SendRequestSchema, { room: "r", sender: "s", text: "hi" })),
  );

  /** Writes `body` one byte every 100 ms until `socket` closes; resolves when it does. */
  async function trickle(write: (byte: Buffer) => boolean, closed: Promise<unknown>, body: Buffer) {
    let done = false;
    void closed.then(() => {
      done = true;
    });
    for (let i = 0; i < body.length - 1 && !done; i++) {
      write(body.subarray(i, i + 1));
      await sleep(100);
    }
    await closed;
  }

  it("a trickled HTTP/1.1 body gets 408 and its connection is closed at requestTimeoutMs", () =>
    withServer(
      async (server) => {
        const socket: Socket = await rawConnect(server.port);
        let response = "";
        socket.on("data", (d: Buffer) => {
          response += d.toString("latin1");
        });
        const started = performance.now();
        socket.write(
          "POST /chat.v1.ChatService/Send HTTP/1.1\r\nHost: x\r\nContent-Type: application/proto\r\n" +
            "Content-Length: 1000\r\n\r\n",
        );
        const closed = closedWithin(socket, 1000 + 1000 + 1000);
        await trickle((b) => socket.write(b), closed, Buffer.alloc(1000, 0x41));
        const ms = performance.now() - started;
        // requestTimeoutMs plus Node's check interval (1 s); it was 300 s (+30 s) before.
        assert.ok(ms >= 900 && ms < 3000, `closed after ${ms} ms`);
        assert.match(response, /^HTTP\/1\.1 408 /);
      },
      // Node wants the request timeout no shorter than the header timeout (the sniff timeout).
      { requestTimeoutMs: 1000, sniffTimeoutMs: 500 },
    ));

  it("a trickled HTTP/2 unary body is reset at requestTimeoutMs; its connection stays usable", () =>
    withServer(
      async (server) => {
        const session = http2.connect(server.url);
        session.on("error", () => {});
        try {
          const stream = session.request(
            {
              ":method": "POST",
              ":path": "/chat.v1.ChatService/Send",
              "content-type": "application/grpc",
              te: "trailers",
            },
            { endStream: false },
          );
          stream.on("error", () => {});
          stream.resume();
          const started = performance.now();
          const closed = once(stream, "close");
          await trickle((b) => stream.write(b), closed, Buffer.alloc(1000, 0x41));
          const ms = performance.now() - started;
          assert.ok(ms >= 900 && ms < 1500, `reset after ${ms} ms`);
          assert.equal(stream.rstCode, http2.constants.NGHTTP2_CANCEL);
          // The session is still good: a complete call on it succeeds.
          const ok = session.request({
            ":method": "POST",
            ":path": "/chat.v1.ChatService/Send",
            "content-type": "application/grpc",
            te: "trailers",
          });
          ok.resume();
          ok.end(sendBody);
          const [trailers] = (await Promise.race([
            once(ok, "trailers"),
            sleep(3000).then(() => assert.fail("no trailers")),
          ])) as [http2.IncomingHttpHeaders];
          assert.equal(trailers["grpc-status"], "0");
        } finally {
          session.destroy();
        }
      },
      { requestTimeoutMs: 1000 },
    ));

  it("streams outlive the request deadline: Subscribe over HTTP/2 and HTTP/1.1, Chat (bidi) over HTTP/2", () =>
    withServer(
      async (server) => {
        const h2 = createTestTransport(server.url, "grpc");
        const h1 = createTestTransport(server.url, "connect-h1");
        try {
          const overH2 = subscribe(createClient(ChatService, h2.transport), { room: "long" });
          const overH1 = subscribe(createClient(ChatService, h1.transport), { room: "long" });
          await overH2.waitForReady(3000);
          await overH1.waitForReady(3000);
          const chat = createClient(ChatService, h2.transport);
          const outgoing = new AbortController();
          const chatted: string[] = [];
          const requests = (async function* () {
            yield { kind: { case: "subscribe" as const, value: { room: "long" } } };
            await new Promise((resolve) => outgoing.signal.addEventListener("abort", resolve));
          })();
          const reading = (async () => {
            for await (const res of chat.chat(requests, { signal: outgoing.signal })) {
              const kind = res.kind.case === "event" ? res.kind.value.kind : undefined;
              if (kind?.case === "message") chatted.push(kind.value.text);
            }
          })().catch(() => {});
          // Three times the request deadline.
          await sleep(1500);
          const { client, close } = bystander(server.url);
          try {
            await client.send({ room: "long", sender: "late", text: "still there?" });
          } finally {
            close();
          }
          await overH2.waitForMessages(1, 3000);
          await overH1.waitForMessages(1, 3000);
          const deadline = Date.now() + 3000;
          while (chatted.length === 0 && Date.now() < deadline) await sleep(20);
          assert.deepEqual(chatted, ["still there?"]);
          assert.equal(overH2.error, undefined);
          assert.equal(overH1.error, undefined);
          outgoing.abort();
          await Promise.all([overH2.cancel(), overH1.cancel(), reading]);
        } finally {
          h2.close();
          h1.close();
        }
      },
      { requestTimeoutMs: 500 },
    ));
});

describe("connections per IP address", { timeout: 30_000 }, () => {
  it("closes connections over maxConnectionsPerIp at accept; other addresses still get in", () =>
    withServer(
      async (server) => {
        const held = await Promise.all([1, 2, 3].map(() => rawConnect(server.port)));
        try {
          const extra = await rawConnect(server.port);
          await closedWithin(extra, 1000);
          // Another address is not held back by this one's connections.
          await sendAsNewcomer(server.url, "per-ip", 3000);
          // A slot comes back when one of the three closes.
          held.pop()?.destroy();
          await connectionsDropTo(server, 2, 1000);
          const again = await rawConnect(server.port);
          held.push(again);
          await sleep(300);
          assert.equal(again.destroyed, false, "a connection within the limit was closed");
          assert.equal(await connections(server), 3);
        } finally {
          for (const socket of held) socket.destroy();
        }
      },
      { maxConnectionsPerIp: 3 },
    ));
});

describe("over TLS (h2 and HTTP/1.1 by ALPN)", { timeout: 30_000 }, () => {
  let dir: string;
  let cert: TestCert;
  before(() => {
    dir = makeTestDir("hostile-tls");
    cert = makeTestCert(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tls = () => ({ cert: cert.cert, key: readFileSync(cert.keyFile) });

  it("closes connections over maxConnectionsPerIp at accept, before any TLS handshake", () =>
    withServer(
      async (server) => {
        const held = await Promise.all([1, 2].map(() => rawConnect(server.port)));
        try {
          // Long before the 5 s TLS handshake timeout.
          const ms = await closedWithin(await rawConnect(server.port), 1000);
          assert.ok(ms < 1000);
          // Another address still gets through the handshake.
          const socket = tlsConnect({
            socket: await rawConnect(server.port, bystanderAddress),
            host: "127.0.0.1",
            ca: cert.cert,
            ALPNProtocols: ["h2"],
          });
          socket.on("error", () => {});
          await once(socket, "secureConnect");
          assert.equal(socket.alpnProtocol, "h2");
          socket.destroy();
        } finally {
          for (const socket of held) socket.destroy();
        }
      },
      { maxConnectionsPerIp: 2, sniffTimeoutMs: 5000, tls: tls() },
    ));
});
