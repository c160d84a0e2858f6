/**
 * Shutdown over TLS is bounded like on the cleartext port: a client that
 * keeps a stream open and never goes away is cut off once the shutdown
 * timeout has passed, and close() returns (it used to wait for ever).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { connect as tlsConnect } from "node:tls";
import { startServer, type TestServer } from "../support/server.ts";
import { makeTestCert, type TestCert } from "../support/tls-cert.ts";

const shutdownTimeoutMs = 300;

let dir: string;
let cert: TestCert;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tls-shutdown-"));
  cert = makeTestCert(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A Connect streaming envelope holding `json`. */
function envelope(json: string): Buffer {
  const body = Buffer.from(json);
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

/** Waits for the first bytes from the server: the call is in its hands. */
function firstData(stream: NodeJS.EventEmitter): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once("data", () => resolve());
    stream.once("error", reject);
  });
}

/** Something that holds a connection until destroyed: the client side of a call. */
interface Holder {
  destroy(): void;
}

/**
 * Starts a TLS server, lets `hold` open a call whose client never lets go, and returns how
 * long close() took (Infinity past 3 s). The client is destroyed afterwards either way, which
 * lets a close() that was still waiting finish.
 */
async function closeWhileHeld(hold: (server: TestServer) => Promise<Holder>): Promise<number> {
  const server = await startServer({
    tls: { cert: cert.cert, key: readFileSync(cert.keyFile) },
    shutdownTimeoutMs,
  });
  let holder: Holder | undefined;
  let closed: Promise<void> | undefined;
  try {
    holder = await hold(server);
    const started = Date.now();
    closed = server.close();
    return await Promise.race([
      closed.then(() => Date.now() - started),
      delay(3000, undefined, { ref: false }).then(() => Number.POSITIVE_INFINITY),
    ]);
  } finally {
    holder?.destroy();
    await (closed ?? server.close());
  }
}

describe("close() over TLS with a client that never goes away", () => {
  it("h2: a bidi stream the client never half-closes is cut after the shutdown timeout", async () => {
    const took = await closeWhileHeld(async (server) => {
      const session = http2.connect(server.url, { ca: cert.cert });
      session.on("error", () => {});
      const stream = session.request({
        ":method": "POST",
        ":path": "/chat.v1.ChatService/Chat",
        "content-type": "application/connect+json",
        "connect-protocol-version": "1",
      });
      stream.on("error", () => {});
      stream.write(envelope('{"join":{"room":"r","name":"ann"}}'));
      await firstData(stream);
      return session;
    });
    assert.ok(took < 3000, `close() took ${took} ms`);
  });

  it("HTTP/1.1: a request body the client never finishes is cut after the shutdown timeout", async () => {
    const took = await closeWhileHeld(async (server) => {
      const socket = tlsConnect({
        host: "127.0.0.1",
        port: server.port,
        ca: cert.cert,
        ALPNProtocols: ["http/1.1"],
      });
      socket.on("error", () => {});
      // Promises 100 bytes and sends 3: the body never ends. Node answers
      // 100 Continue once the request is in the server's hands.
      socket.write(
        "POST /chat.v1.ChatService/Subscribe HTTP/1.1\r\nhost: 127.0.0.1\r\n" +
          "content-type: application/connect+json\r\ncontent-length: 100\r\n" +
          "expect: 100-continue\r\n\r\nabc",
      );
      await firstData(socket);
      return socket;
    });
    assert.ok(took < 3000, `close() took ${took} ms`);
  });
});
