/**
 * TLS on the same port: h2 and HTTP/1.1 chosen by ALPN, every protocol.
 * The certificate is made for the test with openssl (self-signed, 127.0.0.1).
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import { rmSync } from "node:fs";
import { connect as netConnect } from "node:net";
import { after, before, describe, it } from "node:test";
import { connect as tlsConnect } from "node:tls";
import { createClient } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { type ServerUnderTest, startServerUnderTest } from "../support/server.ts";
import { makeTestDir } from "../support/temp-dir.ts";
import { makeTestCert } from "../support/tls-cert.ts";

let dir: string;
let cert: Buffer;
let server: ServerUnderTest;

before(async () => {
  // Under the repository's .data/: the only place Deno's start task may read.
  dir = makeTestDir("tls");
  const files = makeTestCert(dir);
  cert = files.cert;
  server = await startServerUnderTest({
    tls: { certFile: files.certFile, keyFile: files.keyFile },
    sniffTimeoutMs: 300,
  });
});
after(async () => {
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

function alpn(protocols: string[]): Promise<string | false> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect(
      { host: "127.0.0.1", port: server.port, ca: cert, ALPNProtocols: protocols },
      () => {
        resolve(socket.alpnProtocol ?? false);
        socket.end();
      },
    );
    socket.on("error", reject);
  });
}

describe("TLS", () => {
  it("negotiates h2 and http/1.1 by ALPN on one port", async () => {
    assert.equal(await alpn(["h2", "http/1.1"]), "h2");
    assert.equal(await alpn(["http/1.1"]), "http/1.1");
  });

  it("closes a connection that never starts the TLS handshake", async () => {
    const socket = netConnect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    const started = Date.now();
    await once(socket, "close");
    const took = Date.now() - started;
    assert.ok(took >= 200 && took < 5000, `closed after ${took} ms`);
  });

  const nodeOptions = () => ({ ca: cert });
  const transports = {
    "gRPC over h2": () => createGrpcTransport({ baseUrl: server.url, nodeOptions: nodeOptions() }),
    "Connect over h2": () =>
      createConnectTransport({ baseUrl: server.url, httpVersion: "2", nodeOptions: nodeOptions() }),
    "Connect over HTTP/1.1": () =>
      createConnectTransport({
        baseUrl: server.url,
        httpVersion: "1.1",
        nodeOptions: nodeOptions(),
      }),
    "gRPC-Web over HTTP/1.1": () =>
      createGrpcWebTransport({
        baseUrl: server.url,
        httpVersion: "1.1",
        nodeOptions: nodeOptions(),
      }),
  };
  for (const [name, make] of Object.entries(transports)) {
    it(`${name}: send, then replay by subscribe`, async () => {
      const client = createClient(ChatService, make());
      const room = `tls-${name.replace(/[^a-z0-9]/gi, "").toLowerCase()}`;
      const { seq } = await client.send({ room, sender: "ann", text: `over ${name}` });
      const ac = new AbortController();
      let text = "";
      for await (const res of client.subscribe(
        { room, start: { case: "afterSeq", value: seq - 1n } },
        { signal: ac.signal },
      )) {
        if (res.event?.kind.case === "message") {
          text = res.event.kind.value.text;
          break;
        }
      }
      ac.abort();
      assert.equal(text, `over ${name}`);
    });
  }
});
