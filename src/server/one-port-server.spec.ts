import assert from "node:assert/strict";
import { once } from "node:events";
import * as http from "node:http";
import * as net from "node:net";
import { after, before, describe, it } from "node:test";
import { type ConnectRouter, createClient, type Transport } from "@connectrpc/connect";
import { fastifyConnectPlugin } from "@connectrpc/connect-fastify";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  Http2SessionManager,
} from "@connectrpc/connect-node";
import { fastify } from "fastify";
import { http1PostHead } from "../../test/support/raw-http1.ts";
import { ChatService } from "../gen/chat/v1/chat_pb.ts";
import {
  createOnePortServerFactory,
  isOnePortServer,
  type OnePortServer,
  type OnePortServerOptions,
} from "./one-port-server.ts";
import { sniffProtocol } from "./sniff.ts";

/** Released at the end of the run, so the "stubborn" stream's handler does not dangle. */
let releaseStubborn = () => {};
const stubbornReleased = new Promise<void>((resolve) => {
  releaseStubborn = resolve;
});
after(() => releaseStubborn());

function routes(router: ConnectRouter) {
  router.service(ChatService, {
    send: (req) => ({ seq: 7n, clientId: req.clientId }),
    async *subscribe(req, ctx) {
      yield { event: { kind: { case: "ready", value: { headSeq: 3n } } } };
      if (req.room === "hold") {
        // Ends when connect-fastify's shutdownTimeoutMs aborts the handler.
        await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return;
      }
      if (req.room === "stubborn") {
        // Ignores ctx.signal: only the server's forced close ends it.
        await stubbornReleased;
        return;
      }
      for (let seq = 1n; seq <= 3n; seq++) {
        yield { event: { kind: { case: "message", value: { room: req.room, seq, text: "hi" } } } };
      }
    },
  });
}

async function start(options: OnePortServerOptions = {}, shutdownTimeoutMs?: number) {
  const app = fastify({ serverFactory: createOnePortServerFactory(options) });
  await app.register(fastifyConnectPlugin, { routes, shutdownTimeoutMs });
  app.get("/healthz", async () => "ok");
  await app.listen({ port: 0, host: "127.0.0.1" });
  const { port } = app.server.address() as net.AddressInfo;
  assert.ok(isOnePortServer(app.server));
  const server: OnePortServer = app.server;
  return { app, server, port, baseUrl: `http://127.0.0.1:${port}` };
}

async function timeClose(close: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await close();
  return performance.now() - started;
}

/** Opens a raw TCP connection, writes `chunks` 50 ms apart, resolves with what came back once the server closed it. */
async function rawExchange(port: number, ...chunks: string[]) {
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  const started = performance.now();
  const closed = once(socket, "close");
  let response = "";
  socket.on("data", (d) => {
    response += d.toString("latin1");
  });
  for (const chunk of chunks) {
    socket.write(chunk);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await closed;
  return { response, elapsedMs: performance.now() - started };
}

describe("sniffProtocol", () => {
  const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  const bytes = (s: string) => Buffer.from(s, "latin1");
  it("waits while the bytes are a prefix of the preface", () => {
    for (const s of ["", "P", "PR", "PRI", "PRI * HTTP/2.0\r\n\r\n", preface.slice(0, 23)]) {
      assert.equal(sniffProtocol(bytes(s)), undefined, JSON.stringify(s));
    }
  });
  it("decides at the first differing byte or the full preface", () => {
    assert.equal(sniffProtocol(bytes("PO")), "http1");
    assert.equal(sniffProtocol(bytes("PUT / HTTP/1.1")), "http1");
    assert.equal(sniffProtocol(bytes("PRI * HTTP/1.1")), "http1");
    assert.equal(sniffProtocol(bytes("G")), "http1");
    assert.equal(sniffProtocol(bytes(preface)), "h2");
    assert.equal(sniffProtocol(bytes(`${preface}\x00\x00\x12\x04`)), "h2");
  });
});

describe("one-port server with connect-fastify", { timeout: 10_000 }, () => {
  // Started in before(), not in an async describe body: Deno's node:test runs no tests
  // registered after an await.
  let started: Awaited<ReturnType<typeof start>>;
  before(async () => {
    started = await start({ sniffTimeoutMs: 200 });
  });
  after(() => started.app.close());

  const transports: Record<string, (baseUrl: string) => Transport> = {
    "grpc h2": (baseUrl) => createGrpcTransport({ baseUrl }),
    "connect h1.1": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "1.1" }),
    "connect h2": (baseUrl) => createConnectTransport({ baseUrl, httpVersion: "2" }),
    "grpc-web h1.1": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "1.1" }),
    "grpc-web h2": (baseUrl) => createGrpcWebTransport({ baseUrl, httpVersion: "2" }),
  };
  for (const [name, transport] of Object.entries(transports)) {
    it(`serves unary and server-streaming over ${name}`, async () => {
      const client = createClient(ChatService, transport(started.baseUrl));
      const sent = await client.send({ room: "r", text: "hi", clientId: "c1" });
      assert.equal(sent.seq, 7n);
      assert.equal(sent.clientId, "c1");
      const kinds: string[] = [];
      for await (const res of client.subscribe({ room: "r" })) {
        kinds.push(`${res.event?.kind.case}`);
      }
      assert.deepEqual(kinds, ["ready", "message", "message", "message"]);
    });
  }

  it("drops a connection that sends nothing within sniffTimeoutMs", async () => {
    const { response, elapsedMs } = await rawExchange(started.port);
    assert.equal(response, "");
    assert.ok(elapsedMs >= 150 && elapsedMs < 1_000, `closed after ${elapsedMs} ms`);
  });

  it("drops a connection that stalls on an ambiguous prefix", async () => {
    const { response, elapsedMs } = await rawExchange(started.port, "PR");
    assert.equal(response, "");
    assert.ok(elapsedMs >= 150 && elapsedMs < 1_000, `closed after ${elapsedMs} ms`);
  });

  it("serves a POST split after its first byte over HTTP/1.1", async () => {
    const body = JSON.stringify({ room: "r", clientId: "c2" });
    const request = http1PostHead("/chat.v1.ChatService/Send", body.length, "x") + body;
    const { response } = await rawExchange(started.port, "P", "OS", request.slice(3));
    assert.match(response, /^HTTP\/1\.1 200 /);
    assert.match(response, /"clientId":"c2"/);
  });

  it("removes the sniffing listener once a socket is handed off", async () => {
    const { server, baseUrl } = started;
    const countsBefore = server.connectionCounts();
    const accepted: net.Socket[] = [];
    const onConnection = (socket: net.Socket) => accepted.push(socket);
    server.on("connection", onConnection);
    const agent = new http.Agent({ keepAlive: true });
    assert.equal(await fetchHealth(baseUrl, agent), "ok");
    const sessionManager = new Http2SessionManager(baseUrl);
    await createClient(ChatService, createGrpcTransport({ baseUrl, sessionManager })).send({});
    server.off("connection", onConnection);
    // Both connections are still open. What reads them now is the new owner alone: the HTTP/1.1
    // parser's listener, and on Node none for HTTP/2 (the session reads from the handle).
    assert.equal(accepted.length, 2);
    for (const socket of accepted) {
      assert.equal(socket.destroyed, false);
      const listeners = socket.listeners("data").map((f) => f.name);
      assert.ok(listeners.length <= 1 && !listeners.includes("onSniffData"), `${listeners}`);
    }
    assert.deepEqual(server.connectionCounts(), {
      sniffing: 0,
      http1: countsBefore.http1 + 1,
      http2: countsBefore.http2 + 1,
    });
    agent.destroy();
    sessionManager.abort();
  });
});

describe("shutdown", { timeout: 10_000 }, () => {
  it("closes promptly while an HTTP/2 and an idle HTTP/1.1 keep-alive connection are open", async () => {
    const { app, server, baseUrl } = await start({ forceCloseAfterMs: 60_000 });
    const sessionManager = new Http2SessionManager(baseUrl);
    const h2 = createClient(ChatService, createGrpcTransport({ baseUrl, sessionManager }));
    await h2.send({});
    const agent = new http.Agent({ keepAlive: true });
    const res = await fetchHealth(baseUrl, agent);
    assert.equal(res, "ok");
    assert.deepEqual(server.connectionCounts(), { sniffing: 0, http1: 1, http2: 1 });
    const ms = await timeClose(() => app.close());
    assert.ok(ms < 1_000, `app.close() took ${ms} ms`);
    assert.equal(sessionManager.state(), "closed");
    agent.destroy();
  });

  it("ends open server-streams through connect-fastify's shutdownTimeoutMs", async () => {
    const { app, baseUrl } = await start({ forceCloseAfterMs: 60_000 }, 100);
    const { closeMs, ended } = await closeWhileStreaming(
      app,
      [createGrpcTransport({ baseUrl }), createConnectTransport({ baseUrl, httpVersion: "1.1" })],
      "hold",
    );
    assert.ok(closeMs < 2_000, `app.close() took ${closeMs} ms`);
    assert.deepEqual(ended, [true, true]);
  });

  it("destroys streams a handler does not end after forceCloseAfterMs", async () => {
    const { app, baseUrl } = await start({ forceCloseAfterMs: 300 });
    const { closeMs, ended } = await closeWhileStreaming(
      app,
      [createGrpcTransport({ baseUrl }), createGrpcWebTransport({ baseUrl, httpVersion: "1.1" })],
      "stubborn",
    );
    assert.ok(closeMs >= 250 && closeMs < 2_000, `app.close() took ${closeMs} ms`);
    assert.deepEqual(ended, [true, true]);
  });
});

describe("http2 session idle timeout", { timeout: 10_000 }, () => {
  it("keeps a quiet session with an open stream, closes one without", async () => {
    const { app, server, baseUrl } = await start({ http2: { sessionIdleTimeoutMs: 150 } });
    try {
      const sessionManager = new Http2SessionManager(baseUrl);
      const client = createClient(ChatService, createGrpcTransport({ baseUrl, sessionManager }));
      const abort = new AbortController();
      const stream = client.subscribe({ room: "hold" }, { signal: abort.signal });
      const iterator = stream[Symbol.asyncIterator]();
      assert.equal((await iterator.next()).value?.event?.kind.case, "ready");
      await new Promise((resolve) => setTimeout(resolve, 500));
      // Same session still usable: a GOAWAY would have made the client open a second one.
      assert.equal((await client.send({})).seq, 7n);
      assert.equal(server.connectionCounts().http2, 1);
      abort.abort();
      await iterator.next().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(server.connectionCounts().http2, 0);
    } finally {
      await app.close();
    }
  });
});

async function fetchHealth(baseUrl: string, agent: http.Agent): Promise<string> {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get(`${baseUrl}/healthz`, { agent }, resolve).on("error", reject),
  );
  let body = "";
  for await (const chunk of res) body += chunk;
  return body;
}

/** Opens one subscription per transport, closes the app once each got its first event. */
async function closeWhileStreaming(
  app: { close(): Promise<unknown> },
  transports: Transport[],
  room: string,
): Promise<{ closeMs: number; ended: boolean[] }> {
  const iterators = await Promise.all(
    transports.map(async (transport) => {
      const stream = createClient(ChatService, transport).subscribe({ room });
      const iterator = stream[Symbol.asyncIterator]();
      const first = await iterator.next();
      assert.equal(first.value?.event?.kind.case, "ready");
      return iterator;
    }),
  );
  const closing = timeClose(() => app.close());
  const ended = await Promise.all(
    iterators.map((it) =>
      it.next().then(
        (r) => r.done === true,
        () => true,
      ),
    ),
  );
  return { closeMs: await closing, ended };
}
