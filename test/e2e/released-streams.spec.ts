import assert from "node:assert/strict";
import * as http from "node:http";
import * as http2 from "node:http2";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { SubscribeRequestSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { eventually, type TestServer, withServer } from "../support/server.ts";
import { envelope } from "./support/envelope.ts";
import { assertStillServes } from "./support/still-serves.ts";

// Streams that are behind when their client leaves must be released: their
// subscription, queued events, presence entry and handler (issue 13). Each
// case opens subscribers that never read, posts enough to back them up
// (past HTTP/2 flow control and Node's stream buffers), then makes the
// client go away, and requires the server to hold nothing of them within
// `releaseBoundMs`.

const releaseBoundMs = 2000;
const text = "x".repeat(4096);
const messages = 60;

type Protocol = "grpc" | "connect" | "grpc-web";
const contentTypes: Record<Protocol, string> = {
  grpc: "application/grpc",
  connect: "application/connect+proto",
  "grpc-web": "application/grpc-web+proto",
};

/** A chat.v1 Subscribe (named, so it is listed) or the seed's ChatStream. */
function call(room: string, i: number): { path: string; body: Buffer } {
  if (i % 4 === 3) return { path: "/grpc.ChatServer/ChatStream", body: envelope(new Uint8Array()) };
  const req = create(SubscribeRequestSchema, { room, name: `reader-${i}` });
  return {
    path: "/chat.v1.ChatService/Subscribe",
    body: envelope(toBinary(SubscribeRequestSchema, req)),
  };
}

/** `n` streams on one HTTP/2 connection that never read; `leave` ends them as told. */
function openH2(server: TestServer, protocol: Protocol, room: string, n: number) {
  const session = http2.connect(server.url);
  session.on("error", () => {});
  const streams = Array.from({ length: n }, (_, i) => {
    const { path, body } = call(room, i);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": contentTypes[protocol],
      te: "trailers",
    });
    stream.on("error", () => {});
    stream.pause();
    stream.end(body);
    return stream;
  });
  return {
    leave(how: "connection" | "cancel") {
      if (how === "connection") session.destroy();
      else for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
    },
    close: () => session.destroy(),
  };
}

/** `n` streams over HTTP/1.1, one connection each, that never read. */
function openH1(server: TestServer, protocol: Protocol, room: string, n: number) {
  const requests = Array.from({ length: n }, (_, i) => {
    const { path, body } = call(room, i);
    const req = http.request(`${server.url}${path}`, {
      method: "POST",
      agent: false,
      headers: { "content-type": contentTypes[protocol] },
    });
    req.on("response", (res) => res.pause());
    req.on("error", () => {});
    req.end(body);
    return req;
  });
  return {
    leave: () => {
      for (const r of requests) r.destroy();
    },
    close: () => {
      for (const r of requests) r.destroy();
    },
  };
}

async function backUp(server: TestServer, room: string, n: number): Promise<void> {
  // Seed ChatStreams subscribe to the seed's room: count all rooms.
  await eventually(() => server.rooms.subscriberCount() === n, 3000, `${n} subscribers`);
  for (let i = 0; i < messages; i++) {
    await server.rooms.send({ room, sender: "flood", text, clientId: "" });
    await server.rooms.send({ room: "lobby", sender: "flood", text, clientId: "" });
  }
  // Let the server fill what flow control and the socket buffers take.
  await new Promise((r) => setTimeout(r, 200));
}

async function assertReleased(server: TestServer, room: string): Promise<void> {
  await eventually(
    async () =>
      server.rooms.subscriberCount() === 0 &&
      (await server.rooms.members(room)).length === 0 &&
      server.streams.count() === 0,
    releaseBoundMs,
    "every subscription, presence entry and stream handler to be released",
  ).catch(async (e) => {
    const left = {
      subscriptions: server.rooms.subscriberCount(),
      members: (await server.rooms.members(room)).length,
      handlers: server.streams.count(),
    };
    throw new Error(`${(e as Error).message}: ${JSON.stringify(left)} left`);
  });
}

/** Backs up `n` streams of `client`, makes it leave, then requires everything released. */
async function leaveBehind(
  server: TestServer,
  room: string,
  n: number,
  client: { leave(): void; close(): void },
): Promise<void> {
  try {
    await backUp(server, room, n);
    client.leave();
    await assertReleased(server, room);
  } finally {
    client.close();
  }
  await assertStillServes(server);
}

describe("streams that are behind when their client leaves are released", () => {
  for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
    it(`${protocol} over HTTP/2: connection destroyed`, () =>
      withServer(async (server) => {
        const room = `h2-${protocol}`;
        const client = openH2(server, protocol, room, 20);
        await leaveBehind(server, room, 20, { ...client, leave: () => client.leave("connection") });
      }));
  }

  it("grpc over HTTP/2: each call canceled, the connection kept", () =>
    withServer(async (server) => {
      const client = openH2(server, "grpc", "h2-cancel", 20);
      await leaveBehind(server, "h2-cancel", 20, {
        ...client,
        leave: () => client.leave("cancel"),
      });
    }));

  for (const protocol of ["connect", "grpc-web"] as const) {
    it(`${protocol} over HTTP/1.1: connections destroyed`, () =>
      withServer(async (server) => {
        const room = `h1-${protocol}`;
        await leaveBehind(server, room, 10, openH1(server, protocol, room, 10));
      }));
  }

  it("grpc over HTTP/2: many connections behind on many small notes, then all gone", () =>
    withServer(async (server) => {
      const room = "small-notes";
      const clients = Array.from({ length: 10 }, () => openH2(server, "grpc", room, 20));
      try {
        await eventually(() => server.rooms.subscriberCount() === 200, 3000, "200 subscribers");
        for (let i = 0; i < 300; i++) {
          const note = { sender: "s", text: `note ${i} ${"x".repeat(60)}`, clientId: "" };
          await server.rooms.send({ room, ...note });
          await server.rooms.send({ room: "lobby", ...note });
        }
        await new Promise((r) => setTimeout(r, 500));
        for (const c of clients) c.leave("connection");
        await assertReleased(server, room);
      } finally {
        for (const c of clients) c.close();
      }
      await assertStillServes(server);
    }));

  it("churn: rounds of backed-up subscribers leave nothing behind", () =>
    withServer(async (server) => {
      for (let round = 0; round < 5; round++) {
        const room = `churn-${round}`;
        const h2 = openH2(server, "grpc", room, 30);
        const h1 = openH1(server, "connect", room, 5);
        try {
          await backUp(server, room, 35);
          h2.leave("connection");
          h1.leave();
          await assertReleased(server, room);
        } finally {
          h2.close();
          h1.close();
        }
      }
      assert.equal(server.rooms.subscriberCount(), 0);
      await assertStillServes(server);
    }));
});
