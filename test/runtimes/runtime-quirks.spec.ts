/**
 * Runtime bugs the one-port server works around (src/server/one-port-server.ts),
 * each checked against `src/main.ts` running on the runtime under test. Every
 * test here failed on Deno 2.9.6 before its workaround went in.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { http1PostHead } from "../support/raw-http1.ts";
import { type SubprocessServer, spawnServer } from "../support/subprocess-server.ts";
import { runtimeUnderTest } from "./runtime-under-test.ts";

const sniffTimeoutMs = 500;
let server: SubprocessServer;
before(async () => {
  server = await spawnServer(runtimeUnderTest, [
    "--max-request-bytes",
    "1000000",
    "--max-text-bytes",
    "300000",
    "--sniff-timeout-ms",
    String(sniffTimeoutMs),
    "--store",
    "memory",
  ]);
});
after(() => server.close());

/** A Connect unary Send as JSON over HTTP/1.1: status, body and the client port it went out on. */
function send(agent: http.Agent, text: string) {
  return new Promise<{ status: number; body: string; localPort: number }>((resolve, reject) => {
    const req = http.request(`${server.url}/chat.v1.ChatService/Send`, {
      method: "POST",
      agent,
      headers: { "content-type": "application/json" },
    });
    req.on("response", (res) => {
      const localPort = res.socket.localPort ?? 0;
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, localPort }));
    });
    req.on("error", reject);
    req.end(JSON.stringify({ room: "quirks", sender: "q", text }));
  });
}

describe(`runtime workarounds (${runtimeUnderTest})`, () => {
  it("keeps an HTTP/1.1 connection alive across requests (Deno issue 35609)", async () => {
    // Deno closes keep-alive sockets of a server that is not listening; the inner
    // HTTP/1.1 server is fed sockets and never listens itself.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports: number[] = [];
      for (const text of ["one", "two", "three"]) {
        const { status, localPort } = await send(agent, text);
        assert.equal(status, 200);
        ports.push(localPort);
        // Let the server act on the idle connection before the next request.
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.equal(new Set(ports).size, 1, `one connection for all requests, got ports ${ports}`);
    } finally {
      agent.destroy();
    }
  });

  it("parses a request whose body arrives in later reads than its head", async () => {
    // Deno's HTTP/1.1 parser reads the rest of the body from the socket handle: it once
    // got it ahead of the head we had sniffed, answering 400 to most such requests.
    const text = "x".repeat(200_000);
    const body = Buffer.from(JSON.stringify({ room: "quirks", sender: "q", text }));
    const head = http1PostHead("/chat.v1.ChatService/Send", body.length);
    const statuses: string[] = [];
    for (let i = 0; i < 10; i++) {
      const socket = net.connect(server.port, "127.0.0.1");
      await once(socket, "connect");
      let response = "";
      socket.setEncoding("latin1").on("data", (chunk: string) => {
        response += chunk;
      });
      socket.write(Buffer.concat([Buffer.from(head, "latin1"), body]));
      await once(socket, "close");
      statuses.push(response.split("\r\n")[0] ?? "");
    }
    assert.deepEqual(
      statuses,
      statuses.map(() => "HTTP/1.1 200 OK"),
    );
  });

  it("closes a connection that sends nothing within --sniff-timeout-ms", async () => {
    const socket = net.connect(server.port, "127.0.0.1");
    socket.on("error", () => {});
    await once(socket, "connect");
    const started = performance.now();
    await once(socket, "close");
    const ms = performance.now() - started;
    assert.ok(ms >= sniffTimeoutMs - 200 && ms < 10_000, `closed after ${ms} ms`);
  });
});
