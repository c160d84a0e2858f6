/**
 * Room session against a scripted in-memory ChatService (createRouterTransport):
 * every reconnect, resume, reset, gap, liveness and retry path is driven
 * deliberately, with no network. Then a few checks against the real server
 * (presence, typing, a restart with the SQLite store), which the browser
 * tests exercise further through the page.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type HandlerContext,
} from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { buildApp } from "../../src/app.ts";
import {
  ChatService,
  type EventSchema,
  MemberSchema,
  type SendRequest,
  type SetTypingRequest,
  type SubscribeRequest,
} from "../../src/gen/chat/v1/chat_pb.ts";
import { openSqliteStore } from "../../src/stores/sqlite/open-store.ts";
import { createRoomSession, type RoomSession, type SessionState } from "./room-session.ts";

type EventInit = MessageInitShape<typeof EventSchema>;
type SubscribeScript = (req: SubscribeRequest, ctx: HandlerContext) => AsyncIterable<EventInit>;

const msg = (seq: number, sender = "ann", text = `m${seq}`): EventInit => ({
  kind: { case: "message", value: { room: "r", seq: BigInt(seq), sender, text } },
});
const ready = (epoch: string, names: string[] = []): EventInit => ({
  kind: {
    case: "ready",
    value: { epoch, members: names.map((name) => create(MemberSchema, { name })) },
  },
});
const heartbeat: EventInit = { kind: { case: "heartbeat", value: {} } };

/** Resolves when the call is aborted (a live stream with nothing more to say). */
function hang(ctx: HandlerContext): Promise<void> {
  return new Promise((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener("abort", () => resolve());
  });
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(predicate: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** A fake server: each Subscribe call runs the next script (then hangs when none is left). */
function createFake() {
  const scripts: SubscribeScript[] = [];
  const subscribes: { req: SubscribeRequest; ctx: HandlerContext }[] = [];
  const sends: SendRequest[] = [];
  const typings: SetTypingRequest[] = [];
  /** The authorization header of each Send and SetTyping call, in order. */
  const unaryAuth: (string | null)[] = [];
  let refuseToken: string | undefined;
  let onSend: (req: SendRequest, n: number) => Promise<void> = async () => {};
  let seq = 100n;
  const transport = createRouterTransport(({ service }) => {
    service(ChatService, {
      async *subscribe(req, ctx) {
        subscribes.push({ req, ctx });
        const script = scripts.shift();
        if (script) {
          for await (const event of script(req, ctx)) yield { event };
        } else {
          await hang(ctx);
        }
      },
      async send(req, ctx) {
        unaryAuth.push(ctx.requestHeader.get("authorization"));
        if (refuseToken && ctx.requestHeader.get("authorization") === `Bearer ${refuseToken}`) {
          throw new ConnectError("token expired", Code.Unauthenticated);
        }
        sends.push(req);
        await onSend(req, sends.length);
        return { seq: ++seq, clientId: req.clientId, duplicate: sends.length > 1 };
      },
      async setTyping(req, ctx) {
        unaryAuth.push(ctx.requestHeader.get("authorization"));
        typings.push(req);
        return {};
      },
    });
  });
  return {
    client: createClient(ChatService, transport),
    scripts,
    subscribes,
    sends,
    typings,
    unaryAuth,
    set refuseToken(token: string | undefined) {
      refuseToken = token;
    },
    set onSend(fn: (req: SendRequest, n: number) => Promise<void>) {
      onSend = fn;
    },
  };
}

const fast = { backoff: { initialMs: 5, maxMs: 20 } };
let session: RoomSession | undefined;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  session?.close();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function open(fake: ReturnType<typeof createFake>, extra: object = {}) {
  const states: SessionState[] = [];
  session = createRoomSession({ client: fake.client, room: "r", name: "me", ...fast, ...extra });
  session.on("state", (s) => states.push(s));
  return { session, states };
}

describe("room session", () => {
  it("first join replays the newest N with the presence name, then goes live with the member snapshot", async () => {
    const fake = createFake();
    fake.scripts.push(async function* (_req, ctx) {
      yield msg(1);
      yield msg(2);
      yield ready("e1", ["ann", "me"]);
      await hang(ctx);
    });
    const { session: s, states } = open(fake, { history: 3 });
    await until(() => s.state === "live", "live");
    const { req } = fake.subscribes[0] ?? assert.fail("no subscribe");
    assert.deepEqual(req.start, { case: "last", value: 3 });
    assert.equal(req.name, "me");
    assert.equal(req.room, "r");
    assert.equal(req.epoch, "");
    assert.deepEqual(
      s.messages.map((m) => m.seq),
      [1n, 2n],
    );
    assert.deepEqual([...s.members.keys()], ["ann", "me"]);
    assert.deepEqual(states, ["live"]);
  });

  it("reconnects after unavailable, resumes with after_seq and epoch, and never shows a duplicate", async () => {
    const fake = createFake();
    fake.scripts.push(async function* () {
      yield msg(1);
      yield msg(2);
      yield ready("e1");
      throw new ConnectError("server is shutting down", Code.Unavailable);
    });
    fake.scripts.push(async function* (_req, ctx) {
      yield msg(1);
      yield msg(2);
      yield msg(3);
      yield ready("e1");
      await hang(ctx);
    });
    const delivered: bigint[] = [];
    const { session: s, states } = open(fake);
    let sawRetryAt = false;
    s.on("message", (m) => delivered.push(m.seq));
    s.on("state", () => {
      if (s.nextRetryAt !== undefined) sawRetryAt = true;
    });
    await until(() => fake.subscribes.length === 2 && s.state === "live", "second live");
    const { req } = fake.subscribes[1] ?? assert.fail();
    assert.deepEqual(req.start, { case: "afterSeq", value: 2n });
    assert.equal(req.epoch, "e1");
    assert.deepEqual(delivered, [1n, 2n, 3n]);
    assert.deepEqual(
      s.messages.map((m) => m.seq),
      [1n, 2n, 3n],
    );
    assert.equal(s.lastError?.code, Code.Unavailable);
    assert.ok(sawRetryAt, "nextRetryAt announced while reconnecting");
    assert.deepEqual(states.at(0), "live");
    assert.ok(states.includes("reconnecting"));
    assert.equal(states.at(-1), "live");
  });

  it("a slow-consumer cut-off (resource_exhausted + chat-resume-after-seq) resumes from the last seq held", async () => {
    const fake = createFake();
    fake.scripts.push(async function* () {
      yield ready("e1");
      yield msg(1);
      yield msg(2);
      throw new ConnectError("too slow", Code.ResourceExhausted, {
        "chat-resume-after-seq": "2",
      });
    });
    const { session: s } = open(fake);
    await until(() => fake.subscribes.length === 2, "resubscribe");
    assert.deepEqual(fake.subscribes[1]?.req.start, { case: "afterSeq", value: 2n });
    assert.equal(s.lastError?.code, Code.ResourceExhausted);
  });

  it("HistoryReset discards the held history and resumes with the new epoch", async () => {
    const fake = createFake();
    fake.scripts.push(async function* () {
      yield msg(1);
      yield msg(2);
      yield msg(3);
      yield ready("e1");
      throw new ConnectError("restart", Code.Unavailable);
    });
    fake.scripts.push(async function* () {
      yield { kind: { case: "reset", value: { epoch: "e2" } } };
      yield msg(1, "bob", "new history");
      yield ready("e2");
      throw new ConnectError("again", Code.Unavailable);
    });
    const resets: string[] = [];
    const { session: s } = open(fake);
    s.on("reset", (r) => resets.push(r.epoch));
    await until(() => fake.subscribes.length === 3, "third subscribe");
    assert.deepEqual(resets, ["e2"]);
    assert.deepEqual(
      s.messages.map((m) => m.text),
      ["new history"],
    );
    assert.equal(fake.subscribes[1]?.req.epoch, "e1");
    assert.deepEqual(fake.subscribes[2]?.req.start, { case: "afterSeq", value: 1n });
    assert.equal(fake.subscribes[2]?.req.epoch, "e2");
  });

  it("HistoryGap is reported and the session goes on", async () => {
    const fake = createFake();
    fake.scripts.push(async function* (_req, ctx) {
      yield { kind: { case: "gap", value: { afterSeq: 0n, nextSeq: 5n } } };
      yield msg(5);
      yield ready("e1");
      await hang(ctx);
    });
    const gaps: [bigint, bigint][] = [];
    const { session: s } = open(fake);
    s.on("gap", (g) => gaps.push([g.afterSeq, g.nextSeq]));
    await until(() => s.state === "live", "live");
    assert.deepEqual(gaps, [[0n, 5n]]);
    assert.deepEqual(
      s.messages.map((m) => m.seq),
      [5n],
    );
  });

  it("heartbeats keep a quiet stream alive; silence past heartbeatTimeoutMs aborts the call and reconnects", async () => {
    const fake = createFake();
    fake.scripts.push(async function* (_req, ctx) {
      yield ready("e1");
      for (let i = 0; i < 6; i++) {
        await sleep(50);
        yield heartbeat;
      }
      await hang(ctx);
    });
    const started = Date.now();
    const { session: s } = open(fake, { heartbeatTimeoutMs: 150 });
    await until(() => fake.subscribes.length === 2, "reconnect after silence");
    const elapsed = Date.now() - started;
    assert.ok(
      elapsed >= 300 + 150,
      `reconnected after ${elapsed} ms, before the heartbeats stopped`,
    );
    assert.equal(fake.subscribes[0]?.ctx.signal.aborted, true, "the dead call was aborted");
    assert.equal(s.lastError?.code, Code.DeadlineExceeded);
  });

  it("invalid_argument fails the session without looping; retryNow tries again", async () => {
    const fake = createFake();
    fake.scripts.push(async function* () {
      yield* [];
      throw new ConnectError("room must be ...", Code.InvalidArgument);
    });
    const errors: Code[] = [];
    const { session: s } = open(fake);
    s.on("error", (e) => errors.push(e.code));
    await until(() => s.state === "failed", "failed");
    await sleep(100);
    assert.equal(fake.subscribes.length, 1);
    assert.deepEqual(errors, [Code.InvalidArgument]);
    s.retryNow();
    await until(() => fake.subscribes.length === 2, "retry");
    assert.equal(s.state, "reconnecting");
  });

  it("send retries with the same client_id until acknowledged, and keeps call order", async () => {
    const fake = createFake();
    fake.onSend = async (_req, n) => {
      if (n <= 2) throw new ConnectError("connection refused", Code.Unavailable);
    };
    const ids = ["id-1", "id-2"];
    const { session: s } = open(fake, { newId: () => ids.shift() ?? "?" });
    const first = s.send("hello");
    const second = s.send("world");
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual(
      fake.sends.map((r) => [r.clientId, r.text, r.sender, r.room]),
      [
        ["id-1", "hello", "me", "r"],
        ["id-1", "hello", "me", "r"],
        ["id-1", "hello", "me", "r"],
        ["id-2", "world", "me", "r"],
      ],
    );
    assert.equal(a.clientId, "id-1");
    assert.equal(b.clientId, "id-2");
    assert.ok(a.seq < b.seq);
  });

  it("send rejects at once on errors a retry cannot fix", async () => {
    const fake = createFake();
    fake.onSend = async () => {
      throw new ConnectError("text must not be empty", Code.InvalidArgument);
    };
    const { session: s } = open(fake);
    await assert.rejects(s.send(" "), (e: ConnectError) => e.code === Code.InvalidArgument);
    assert.equal(fake.sends.length, 1);
  });

  it("keeps members current from joins and leaves", async () => {
    const fake = createFake();
    fake.scripts.push(async function* (_req, ctx) {
      yield ready("e1", ["me"]);
      yield { kind: { case: "memberJoined", value: { member: { name: "bob" } } } };
      yield { kind: { case: "memberJoined", value: { member: { name: "cy" } } } };
      yield { kind: { case: "memberLeft", value: { name: "bob" } } };
      await hang(ctx);
    });
    const { session: s } = open(fake);
    const seen: string[][] = [];
    s.on("members", (m) => seen.push([...m.keys()]));
    await until(() => seen.length === 4, "member updates");
    assert.deepEqual(seen, [["me"], ["me", "bob"], ["me", "bob", "cy"], ["me", "cy"]]);
  });

  it("typing: others only, expires without renewal, ends when stopped or when they send", async () => {
    const fake = createFake();
    let step!: () => void;
    const next = () => new Promise<void>((r) => (step = r));
    fake.scripts.push(async function* (_req, ctx) {
      yield ready("e1");
      yield { kind: { case: "typing", value: { name: "me", typing: true } } };
      yield { kind: { case: "typing", value: { name: "ann", typing: true } } };
      yield { kind: { case: "typing", value: { name: "bob", typing: true } } };
      await next();
      yield msg(1, "ann");
      yield { kind: { case: "typing", value: { name: "bob", typing: false } } };
      yield { kind: { case: "typing", value: { name: "cy", typing: true } } };
      await hang(ctx);
    });
    const { session: s } = open(fake, { typingTtlMs: 150 });
    await until(() => s.typing.size === 2, "two typing");
    assert.deepEqual([...s.typing].sort(), ["ann", "bob"]);
    step();
    await until(() => s.typing.has("cy"), "cy typing");
    assert.deepEqual([...s.typing], ["cy"]);
    await sleep(200);
    assert.equal(s.typing.size, 0, "cy's notice expired");
  });

  it("setTyping is throttled while typing and says stop once", async () => {
    const fake = createFake();
    fake.scripts.push(async function* (_req, ctx) {
      yield ready("e1");
      await hang(ctx);
    });
    const { session: s } = open(fake, { typingThrottleMs: 100 });
    await until(() => s.state === "live", "live");
    for (let i = 0; i < 5; i++) s.setTyping(true);
    await until(() => fake.typings.length === 1, "first notice");
    await sleep(120);
    s.setTyping(true);
    s.setTyping(false);
    s.setTyping(false);
    await until(() => fake.typings.length === 3, "renewal and stop");
    await sleep(30);
    assert.deepEqual(
      fake.typings.map((t) => [t.room, t.name, t.typing]),
      [
        ["r", "me", true],
        ["r", "me", true],
        ["r", "me", false],
      ],
    );
  });

  it("close aborts the open call, settles in closed and stops reconnecting", async () => {
    const fake = createFake();
    const { session: s, states } = open(fake);
    await until(() => fake.subscribes.length === 1, "subscribe");
    s.close();
    await until(() => fake.subscribes[0]?.ctx.signal.aborted === true, "call aborted");
    await sleep(50);
    assert.equal(fake.subscribes.length, 1);
    assert.equal(s.state, "closed");
    assert.deepEqual(states, ["closed"]);
    await assert.rejects(s.send("late"), (e: ConnectError) => e.code === Code.Canceled);
  });
});

/** The real app on a loopback port (0: any free one). */
async function serve(port: number, options: Parameters<typeof buildApp>[0] = {}) {
  const { app } = await buildApp({
    logger: false,
    shutdownTimeoutMs: 300,
    webRoot: false,
    ...options,
  });
  await app.listen({ host: "127.0.0.1", port });
  const actual = (app.server.address() as AddressInfo).port;
  return { app, port: actual, url: `http://127.0.0.1:${actual}` };
}

function realSession(url: string, name: string, room: string): RoomSession {
  const client = createClient(
    ChatService,
    createConnectTransport({ baseUrl: url, httpVersion: "1.1" }),
  );
  const s = createRoomSession({ client, room, name, backoff: { initialMs: 20, maxMs: 200 } });
  cleanups.push(() => s.close());
  return s;
}

describe("room session with tokens", () => {
  const expired = () => {
    throw new ConnectError("token expired", Code.Unauthenticated);
  };

  it("sends the token on every call and resumes with a fresh one when the stream's expires", async () => {
    const fake = createFake();
    fake.scripts.push(async function* () {
      yield msg(1);
      yield ready("e1");
      expired();
    });
    fake.scripts.push(async function* (_req, ctx) {
      yield msg(2);
      yield ready("e1");
      await hang(ctx);
    });
    const tokens = ["t1", "t2"];
    let asked = 0;
    const { session, states } = open(fake, { getToken: () => tokens[asked++] });
    await until(() => session.lastSeq === 2n && session.state === "live", "resumed live");
    assert.deepEqual(
      fake.subscribes.map((s) => s.ctx.requestHeader.get("authorization")),
      ["Bearer t1", "Bearer t2"],
    );
    assert.deepEqual(fake.subscribes[1]?.req.start, { case: "afterSeq", value: 1n });
    assert.ok(!states.includes("failed"));
    await session.send("hi");
    session.setTyping(true);
    await until(() => fake.unaryAuth.length === 2, "typing sent");
    assert.deepEqual(fake.unaryAuth, ["Bearer t2", "Bearer t2"]);
    assert.equal(asked, 2);
  });

  it("retries a send refused for its token once with a fresh token, same client_id", async () => {
    const fake = createFake();
    fake.refuseToken = "old";
    const tokens = ["old", "new"];
    let asked = 0;
    const { session } = open(fake, { getToken: () => tokens[asked++] });
    const ack = await session.send("hello", "c-1");
    assert.equal(ack.clientId, "c-1");
    assert.deepEqual(fake.unaryAuth, ["Bearer old", "Bearer new"]);
    assert.deepEqual(
      fake.sends.map((r) => r.clientId),
      ["c-1"],
    );
  });

  it("fails without looping when no fresh token comes", async () => {
    const fake = createFake();
    const refusing = async function* () {
      yield heartbeat;
      expired();
    };
    for (let i = 0; i < 5; i++) fake.scripts.push(refusing);
    const { session } = open(fake, { getToken: () => "stale" });
    await until(() => session.state === "failed", "failed");
    assert.equal(session.lastError?.code, Code.Unauthenticated);
    assert.equal(fake.subscribes.length, 2, "one retry with the token asked for again");
    const none = createFake();
    none.scripts.push(refusing);
    session.close();
    const second = open(none, { getToken: () => undefined }).session;
    await until(() => second.state === "failed", "failed");
    assert.equal(none.subscribes[0]?.ctx.requestHeader.get("authorization"), null);
  });
});

describe("room session against the real server", () => {
  it("two sessions see each other's messages, presence and typing", async () => {
    const server = await serve(0);
    cleanups.push(() => server.app.close());
    const client = createClient(
      ChatService,
      createConnectTransport({ baseUrl: server.url, httpVersion: "1.1" }),
    );
    await client.send({ room: "real", sender: "old", text: "history" });
    const ann = realSession(server.url, "ann", "real");
    await until(() => ann.state === "live", "ann live");
    const bob = realSession(server.url, "bob", "real");
    await until(() => bob.state === "live" && ann.members.has("bob"), "bob joined");
    assert.deepEqual([...bob.members.keys()].sort(), ["ann", "bob"]);
    assert.deepEqual(
      bob.messages.map((m) => m.text),
      ["history"],
    );
    ann.setTyping(true);
    await until(() => bob.typing.has("ann"), "ann typing at bob");
    assert.equal(ann.typing.size, 0, "own typing is not shown");
    const ack = await ann.send("hi bob");
    assert.equal(ack.duplicate, false);
    await until(() => bob.messages.some((m) => m.text === "hi bob"), "bob got it");
    assert.equal(bob.typing.has("ann"), false, "a message ends its sender's typing");
    bob.close();
    await until(() => !ann.members.has("bob"), "bob left");
  });

  it("resumes across a restart of a SQLite-backed server with no duplicate and no loss", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "chat-session-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const open = () => openSqliteStore({ dataDir, durability: "normal" });
    const first = await serve(0, { store: await open() });
    const s = realSession(first.url, "rae", "durable");
    await until(() => s.state === "live", "live");
    await s.send("one");
    await s.send("two");
    await until(() => s.messages.length === 2, "two held");
    await first.app.close();
    await until(() => s.state === "reconnecting", "reconnecting");
    const pending = s.send("while down");
    const second = await serve(first.port, { store: await open() });
    cleanups.push(() => second.app.close());
    const client = createClient(
      ChatService,
      createConnectTransport({ baseUrl: second.url, httpVersion: "1.1" }),
    );
    await client.send({ room: "durable", sender: "ops", text: "from ops" });
    await pending;
    await until(() => s.messages.length === 4, "four held", 10_000);
    assert.deepEqual(
      s.messages.map((m) => m.seq),
      [1n, 2n, 3n, 4n],
    );
    assert.deepEqual(
      s.messages.slice(0, 2).map((m) => m.text),
      ["one", "two"],
    );
    assert.equal(s.state, "live");
  });
});
