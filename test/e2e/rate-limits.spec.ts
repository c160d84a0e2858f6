/**
 * Rate limits against a real server, through connect-node clients on all
 * three protocols: sends, new streams and typing notices are counted per
 * identity (per IP address when anonymous), and a caller over a limit gets
 * ResourceExhausted with a retry hint while everyone else goes on.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import { ChatServer } from "../../src/gen/grpc/chat_pb.ts";
import { retryAfterMsKey } from "../../src/rate-limit/rate-limits.ts";
import { eventually, startServer, type TestServer } from "../support/server.ts";
import {
  allTransportKinds,
  createTestTransport,
  type TransportKind,
} from "../support/transports.ts";
import { drain, expectError } from "./support/errors.ts";
import { subscribe } from "./support/subscribe.ts";
import { bearer, testSecret, token } from "./support/tokens.ts";

const minute = 60_000;

let server: TestServer;
const opened: (() => void)[] = [];
before(async () => {
  server = await startServer({
    auth: { secret: testSecret },
    rateLimits: {
      sends: { count: 3, perMs: minute },
      streams: { count: 2, perMs: minute },
      typing: { count: 2, perMs: minute },
      // Refusals held briefly: the limits here are per minute.
      refusalHoldMs: { min: 20, max: 20 },
    },
  });
});
after(async () => {
  for (const close of opened) close();
  await server.close();
});

function clients(url: string, kind: TransportKind = "grpc") {
  const { transport, close } = createTestTransport(url, kind);
  opened.push(close);
  return { chat: createClient(ChatService, transport), seed: createClient(ChatServer, transport) };
}

/** Asserts the error of a call over its limit, and returns the retry hint in ms. */
async function overLimit(call: () => Promise<unknown>): Promise<number> {
  const e = await expectError(call);
  assert.equal(e.code, Code.ResourceExhausted, e.message);
  const hint = Number(e.metadata.get(retryAfterMsKey));
  assert.ok(hint > 0, `retry-after-ms: ${e.metadata.get(retryAfterMsKey)}`);
  assert.match(e.rawMessage, /retry in \d+ ms/);
  return hint;
}

describe("rate limits per identity", () => {
  for (const kind of allTransportKinds) {
    it(`refuse sends over the limit with a retry hint, for that caller only, over ${kind}`, async () => {
      const { chat, seed } = clients(server.url, kind);
      const room = `sends-${kind}`;
      const alice = bearer(await token(`alice-${kind}`));
      const bob = bearer(await token(`bob-${kind}`));
      await chat.send({ room, text: "1" }, alice);
      await chat.send({ room, text: "2" }, alice);
      await seed.sendNote({ name: "", message: "3" }, alice);
      const hint = await overLimit(() => chat.send({ room, text: "4" }, alice));
      assert.ok(hint <= minute / 3, `hint ${hint} ms is one token's refill at most`);
      await overLimit(() => seed.sendNote({ name: "", message: "5" }, alice));
      // Someone else is not affected, and nothing refused was stored.
      await chat.send({ room, text: "from bob" }, bob);
      const history = await chat.getHistory({ room }, bob);
      assert.deepEqual(
        history.messages.map((m) => m.text),
        ["1", "2", "from bob"],
      );
    });
  }

  it("refuse new streams over the limit (Subscribe, ChatStream)", async () => {
    const { chat, seed } = clients(server.url, "grpc");
    const carol = bearer(await token("carol"));
    const first = subscribe(chat, { room: "streams" }, carol);
    const second = subscribe(chat, { room: "streams" }, carol);
    try {
      await Promise.all([first.waitForReady(3000), second.waitForReady(3000)]);
      await overLimit(() => drain(chat.subscribe({ room: "streams" }, carol)));
      await overLimit(() => drain(seed.chatStream({}, carol)));
      // Streams already open go on.
      await chat.send({ room: "streams", text: "still here" }, carol);
      await first.waitForMessages(1, 3000);
    } finally {
      await Promise.all([first.cancel(), second.cancel()]);
    }
    const dave = bearer(await token("dave"));
    const other = subscribe(chat, { room: "streams" }, dave);
    await other.waitForReady(3000);
    await other.cancel();
  });

  it("refuse typing notices over the limit", async () => {
    const { chat } = clients(server.url, "connect-h1");
    const erin = bearer(await token("erin"));
    await chat.setTyping({ room: "typing", typing: true }, erin);
    await chat.setTyping({ room: "typing", typing: false }, erin);
    await overLimit(() => chat.setTyping({ room: "typing", typing: true }, erin));
  });

  it("count the sends of a Chat stream, which ends over the limit", async () => {
    const { chat } = clients(server.url, "grpc");
    const frank = bearer(await token("frank"));
    const finished = new AbortController();
    const requests = async function* () {
      yield { kind: { case: "subscribe" as const, value: { room: "bidi" } } };
      for (let i = 0; i < 5; i++) {
        yield { kind: { case: "send" as const, value: { text: `m${i}` } } };
      }
      // Keep the stream open: the server, not the client, must end it.
      await new Promise((r) => finished.signal.addEventListener("abort", r));
    };
    const acks: bigint[] = [];
    try {
      await overLimit(async () => {
        for await (const res of chat.chat(requests(), frank)) {
          if (res.kind.case === "sent") acks.push(res.kind.value.seq);
        }
      });
      assert.deepEqual(acks, [1n, 2n, 3n]);
      // Its subscription ends with it, not at the room's next event or heartbeat.
      await eventually(() => server.rooms.subscriberCount("bidi") === 0, 1000, "released");
    } finally {
      finished.abort();
    }
  });

  it("hold a refusal for the hinted time, then let the caller through", async () => {
    const quick = await startServer({
      auth: { secret: testSecret },
      rateLimits: { sends: { count: 1, perMs: 300 } },
    });
    try {
      const { chat } = clients(quick.url, "grpc");
      const gina = bearer(await token("gina"));
      await chat.send({ room: "r", text: "1" }, gina);
      const refusedAt = performance.now();
      const hint = await overLimit(() => chat.send({ room: "r", text: "2" }, gina));
      // Held at least 250 ms: a client ignoring the hint cannot refuse-loop.
      assert.ok(performance.now() - refusedAt >= 240, "the refusal was held");
      assert.ok(hint > 200 && hint <= 300, `${hint} ms`);
      await new Promise((r) => setTimeout(r, hint));
      await chat.send({ room: "r", text: "2" }, gina);
    } finally {
      await quick.close();
    }
  });
});

describe("rate limits when anonymous", () => {
  it("leave loopback callers alone by default (a local proxy or benchmark)", async () => {
    const open = await startServer({
      rateLimits: { sends: { count: 3, perMs: minute }, refusalHoldMs: { min: 20, max: 20 } },
    });
    try {
      const { chat } = clients(open.url, "connect-h2");
      for (let i = 0; i < 10; i++) await chat.send({ room: "r", sender: "a", text: `${i}` }, {});
    } finally {
      await open.close();
    }
  });

  it("count per IP address, whatever names the requests give", async () => {
    const open = await startServer({
      rateLimits: {
        sends: { count: 3, perMs: minute },
        refusalHoldMs: { min: 20, max: 20 },
        limitLoopback: true,
      },
    });
    try {
      const { chat } = clients(open.url, "connect-h2");
      const { chat: other } = clients(open.url, "grpcweb-h1");
      await chat.send({ room: "r", sender: "a", text: "1" }, {});
      await chat.send({ room: "r", sender: "b", text: "2" }, {});
      await other.send({ room: "r", sender: "c", text: "3" }, {});
      await overLimit(() => other.send({ room: "r", sender: "d", text: "4" }, {}));
    } finally {
      await open.close();
    }
  });
});
