/**
 * Several server instances on one Redis are one chat (issue 10): one order
 * for every subscriber whichever instance and protocol it uses, presence
 * across instances, resume on another instance, nothing acknowledged lost
 * when an instance is killed, and a Redis outage that streams survive.
 * Real processes throughout: `src/main.ts --store redis` on the runtime
 * under test, and redis-server processes of the test's own.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { ChatService } from "../../src/gen/chat/v1/chat_pb.ts";
import {
  Health,
  HealthCheckResponse_ServingStatus as ServingStatus,
} from "../../src/gen/grpc/health/v1/health_pb.ts";
import { runtimeUnderTest } from "../runtimes/runtime-under-test.ts";
import { cleanUpAll, closeEach } from "../support/clean-up.ts";
import { freePort } from "../support/ports.ts";
import { type RedisProcess, rawCommand, startRedis, startRedisCluster } from "../support/redis.ts";
import { eventually } from "../support/server.ts";
import { runToExit, type SubprocessServer } from "../support/subprocess-server.ts";
import { createTestTransport, type TransportKind } from "../support/transports.ts";
import { spawnRedisInstance } from "./support/redis-instance.ts";
import { type RoomWatcher, watchRoom } from "./support/room-watcher.ts";

const leaseMs = 2000;

const instanceArgs = ["--presence-lease", `${leaseMs}ms`, "--heartbeat-interval", "0"];

function chat(server: SubprocessServer, kind: TransportKind = "grpc") {
  const { transport, close } = createTestTransport(server.url, kind);
  return { client: createClient(ChatService, transport), close };
}

async function healthOf(server: SubprocessServer): Promise<string> {
  const { transport, close } = createTestTransport(server.url, "connect-h1");
  try {
    const { status } = await createClient(Health, transport).check({});
    return Object.entries(ServingStatus).find(([, v]) => v === status)?.[0] ?? String(status);
  } finally {
    close();
  }
}

async function memberNames(server: SubprocessServer, room: string): Promise<string[]> {
  const { client, close } = chat(server, "connect-h1");
  try {
    return (await client.listMembers({ room })).members.map((m) => m.name);
  } finally {
    close();
  }
}

function seqs(watcher: RoomWatcher): bigint[] {
  return watcher.messages.map((m) => BigInt(m.slice(0, m.indexOf(":"))));
}

function range(from: number, to: number): bigint[] {
  return Array.from({ length: to - from + 1 }, (_, i) => BigInt(from + i));
}

/**
 * Registers a describe's hooks: before its tests, a Redis (or a cluster) and
 * the instances on it; after them, the room watchers stop, then the
 * instances close, then Redis. The returned object is filled in by `before`,
 * so read it inside tests only.
 */
function useInstances<R extends { stop(): Promise<void> }>(
  startBackend: () => Promise<R>,
  spawn: (backend: R) => Promise<SubprocessServer[]>,
) {
  const env = {
    redis: undefined as unknown as R,
    servers: [] as SubprocessServer[],
    watchers: [] as RoomWatcher[],
    /** A room watcher that is stopped after the describe's tests. */
    watch(...args: Parameters<typeof watchRoom>): RoomWatcher {
      const watcher = watchRoom(...args);
      env.watchers.push(watcher);
      return watcher;
    },
  };
  before(async () => {
    env.redis = await startBackend();
    env.servers = await spawn(env.redis);
  });
  after(() =>
    cleanUpAll(
      () => {
        for (const w of env.watchers) w.stop();
      },
      () => closeEach(env.servers, (s) => s.close()),
      () => env.redis?.stop(),
    ),
  );
  return env;
}

describe(`three instances on one Redis (${runtimeUnderTest})`, () => {
  const env = useInstances(startRedis, (redis) =>
    Promise.all([0, 1, 2].map(() => spawnRedisInstance(redis.url, instanceArgs))),
  );
  const { watch } = env;

  it("is one chat: every subscriber on every instance and protocol sees one order, and everyone", async () => {
    const [a, b, c] = env.servers as [SubprocessServer, SubprocessServer, SubprocessServer];
    const room = "one-chat";
    const subs = [
      watch({ baseUrl: a.url, kind: "grpc", room, name: "ann" }),
      watch({ baseUrl: b.url, kind: "connect-h1", room, name: "bob" }),
      watch({ baseUrl: c.url, kind: "grpcweb-h2", room, name: "cy" }),
    ];
    await eventually(() => subs.every((s) => s.ready), 10_000, "every subscriber ready");

    const senders = [chat(a, "grpc"), chat(b, "connect-h2"), chat(c, "grpcweb-h1")];
    const sent: string[] = [];
    await Promise.all(
      Array.from({ length: 45 }, (_, i) => {
        const text = `m${i}`;
        sent.push(text);
        return senders[i % 3]?.client.send({ room, sender: `s${i % 3}`, text });
      }),
    );
    for (const s of senders) s.close();

    await eventually(() => subs.every((s) => s.messages.length >= 45), 10_000, "45 messages each");
    for (const sub of subs) {
      assert.deepEqual(seqs(sub), range(1, 45), "seqs 1..45, no gap, no duplicate");
      assert.deepEqual(sub.messages, subs[0]?.messages, "one order everywhere");
    }
    assert.deepEqual(
      subs[0]?.messages.map((m) => m.slice(m.indexOf(":") + 1)).sort(),
      [...sent].sort(),
    );
    for (const server of env.servers) {
      assert.deepEqual(await memberNames(server, room), ["ann", "bob", "cy"]);
    }
    await eventually(
      () => subs.every((s) => ["ann", "bob", "cy"].every((n) => s.members.has(n))),
      5000,
      "every subscriber to hear of the other instances' members",
    );
    const typist = chat(b, "connect-h1");
    await typist.client.setTyping({ room, name: "bob", typing: true });
    typist.close();
    await eventually(
      () =>
        subs.every((s) =>
          s.events.some((e) => e.kind.case === "typing" && e.kind.value.name === "bob"),
        ),
      5000,
      "bob's typing on every instance",
    );
  });

  it("resumes on another instance from after_seq and epoch, without gap or duplicate", async () => {
    const [a, b, c] = env.servers as [SubprocessServer, SubprocessServer, SubprocessServer];
    const room = "resume-elsewhere";
    const sender = chat(c);
    for (let i = 1; i <= 5; i++) await sender.client.send({ room, sender: "s", text: `t${i}` });
    const first = watch({ baseUrl: a.url, kind: "grpc", room });
    await eventually(() => first.ready && first.messages.length === 5, 5000, "five messages on a");
    first.stop();
    for (let i = 6; i <= 10; i++) await sender.client.send({ room, sender: "s", text: `t${i}` });
    sender.close();

    const resumed = watch({
      baseUrl: b.url,
      kind: "connect-h1",
      room,
      afterSeq: first.lastSeq,
      epoch: first.epoch,
    });
    await eventually(() => resumed.ready, 5000, "resumed on b");
    assert.deepEqual(
      resumed.events.map((e) => e.kind.case),
      ["message", "message", "message", "message", "message", "ready"],
    );
    assert.deepEqual(seqs(resumed), range(6, 10));
    assert.equal(resumed.epoch, first.epoch);
  });

  it("keeps every message when every instance's bus connection is cut", async () => {
    const [a, b] = env.servers as [SubprocessServer, SubprocessServer];
    const room = "resync";
    const sub = watch({ baseUrl: a.url, kind: "grpc", room });
    await eventually(() => sub.ready, 5000, "ready");
    const sender = chat(b);
    const send = (text: string) => sender.client.send({ room, sender: "s", text });
    await send("1");
    await eventually(() => sub.messages.length === 1, 5000, "the first message");
    // Cut every instance's subscriber connection, then send at once: these
    // are published while the instances resubscribe, so pub/sub drops them.
    await rawCommand(env.redis.port, ["CLIENT", "KILL", "TYPE", "pubsub"]);
    await Promise.all([2, 3, 4, 5, 6].map((i) => send(String(i))));
    sender.close();
    // What pub/sub dropped comes from the store: through a hole the next
    // message shows, or the resync once the subscriber is back.
    await eventually(() => sub.messages.length === 6, 5000, "every message, none later needed");
    assert.deepEqual(seqs(sub), range(1, 6));
    assert.equal(sub.ended, undefined);
  });

  it("loses nothing acknowledged when an instance is killed, and its members leave within the lease", async () => {
    const [a] = env.servers as [SubprocessServer];
    const doomed = await spawnRedisInstance(env.redis.url, instanceArgs);
    const room = "killed";
    const watcher = watch({ baseUrl: a.url, kind: "grpc", room, name: "ann" });
    const dan = watchRoom({ baseUrl: doomed.url, kind: "grpc", room, name: "dan" });
    await eventually(() => watcher.ready && dan.ready, 5000, "both ready");
    await eventually(async () => (await memberNames(a, room)).includes("dan"), 5000, "dan listed");
    const sender = chat(doomed);
    const acked: bigint[] = [];
    for (let i = 0; i < 5; i++) {
      acked.push((await sender.client.send({ room, sender: "dan", text: `d${i}` })).seq);
    }
    await doomed.stop("SIGKILL");
    sender.close();
    dan.stop();

    const { client, close } = chat(a);
    const history = await client.getHistory({ room, limit: 50 });
    close();
    assert.deepEqual(
      history.messages.map((m) => m.seq),
      acked,
    );
    const killedAt = Date.now();
    await eventually(
      async () => !(await memberNames(a, room)).includes("dan"),
      leaseMs + 3000,
      "dan gone from the member list",
    );
    await eventually(() => !watcher.members.has("dan"), leaseMs * 2 + 3000, "memberLeft dan");
    assert.ok(Date.now() - killedAt < leaseMs * 2 + 3000);
    await eventually(() => watcher.messages.length === 5, 5000, "the live messages");
  });
});

describe(`instances through a Redis outage (${runtimeUnderTest})`, () => {
  const env = useInstances(
    () => startRedis({ appendfsync: "always" }),
    (redis) => Promise.all([0, 1].map(() => spawnRedisInstance(redis.url, instanceArgs))),
  );

  it("fails sends fast with Unavailable, is NOT_SERVING, keeps streams open, and goes on without loss once Redis is back", async () => {
    const [a, b] = env.servers as [SubprocessServer, SubprocessServer];
    const room = "outage";
    const subs = [
      watchRoom({ baseUrl: a.url, kind: "grpc", room, name: "ann" }),
      watchRoom({ baseUrl: b.url, kind: "connect-h1", room, name: "bob" }),
    ];
    env.watchers.push(...subs);
    await eventually(() => subs.every((s) => s.ready), 5000, "ready");
    const sender = chat(b, "connect-h1");
    for (let i = 1; i <= 3; i++)
      await sender.client.send({ room, sender: "s", text: `before${i}` });
    await eventually(() => subs.every((s) => s.messages.length === 3), 5000, "three before");

    await env.redis.kill("SIGKILL");
    const started = Date.now();
    const error = await sender.client.send({ room, sender: "s", text: "during" }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    assert.equal(error?.code, Code.Unavailable, String(error));
    assert.ok(Date.now() - started < 2000, `failed after ${Date.now() - started} ms`);
    const members = await memberNames(a, room).catch((e: unknown) => ConnectError.from(e));
    assert.equal((members as ConnectError).code, Code.Unavailable, String(members));
    const newcomer = watchRoom({ baseUrl: a.url, kind: "connect-h1", room });
    env.watchers.push(newcomer);
    await eventually(() => newcomer.ended !== undefined, 5000, "a new stream to be refused");
    assert.equal(newcomer.ended?.code, "Unavailable", newcomer.ended?.message);
    await eventually(async () => (await healthOf(a)) === "NOT_SERVING", 5000, "health NOT_SERVING");

    await env.redis.restart();
    await eventually(async () => (await healthOf(a)) === "SERVING", 10_000, "SERVING again");
    await eventually(async () => (await healthOf(b)) === "SERVING", 10_000, "b SERVING again");
    for (let i = 1; i <= 3; i++) await sender.client.send({ room, sender: "s", text: `after${i}` });
    sender.close();
    await eventually(() => subs.every((s) => s.messages.length >= 6), 10_000, "three after");
    for (const sub of subs) {
      assert.equal(sub.ended, undefined, "the stream stayed open");
      assert.deepEqual(seqs(sub), range(1, 6));
    }
  });

  it("ends streams when Redis comes back empty, and a resume gets HistoryReset, never a mixed history", async () => {
    const [a] = env.servers as [SubprocessServer];
    const room = "emptied";
    const sub = watchRoom({ baseUrl: a.url, kind: "grpc", room });
    env.watchers.push(sub);
    await eventually(() => sub.ready, 5000, "ready");
    const sender = chat(a);
    for (let i = 1; i <= 2; i++) await sender.client.send({ room, sender: "s", text: `old${i}` });
    await eventually(() => sub.messages.length === 2, 5000, "two messages");
    const oldEpoch = sub.epoch;

    await env.redis.restart({ empty: true });
    await eventually(() => sub.ended !== undefined, 10_000, "the stream to end");
    assert.equal(sub.ended?.code, "Unavailable", sub.ended?.message);

    await eventually(async () => (await healthOf(a)) === "SERVING", 10_000, "SERVING again");
    const fresh = (await sender.client.send({ room, sender: "s", text: "new1" })).seq;
    assert.equal(fresh, 1n, "the emptied Redis starts the room over");
    const resumed = watchRoom({
      baseUrl: a.url,
      kind: "grpc",
      room,
      afterSeq: 2n,
      epoch: oldEpoch,
    });
    env.watchers.push(resumed);
    await eventually(() => resumed.ready, 5000, "resumed");
    sender.close();
    assert.deepEqual(
      resumed.events.map((e) => e.kind.case),
      ["reset", "message", "ready"],
    );
    assert.notEqual(resumed.epoch, oldEpoch);
    assert.deepEqual(resumed.messages, ["1:new1"]);
  });
});

describe(`two instances on a Redis Cluster (${runtimeUnderTest})`, () => {
  const env = useInstances(
    () => startRedisCluster({ persistence: false }),
    // One seed node's URL: the cluster is detected.
    (cluster) => Promise.all([0, 1].map(() => spawnRedisInstance(cluster.urls[0] as string))),
  );

  it("is one chat over rooms spread on every master", async () => {
    const [a, b] = env.servers as [SubprocessServer, SubprocessServer];
    // Rooms whose hash tags land on different masters.
    const rooms = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
    const subs = rooms.map((room) => watchRoom({ baseUrl: a.url, kind: "grpc", room }));
    env.watchers.push(...subs);
    await eventually(() => subs.every((s) => s.ready), 10_000, "ready");
    const sender = chat(b);
    for (const room of rooms) {
      for (let i = 1; i <= 3; i++)
        await sender.client.send({ room, sender: "s", text: `${room}${i}` });
    }
    sender.close();
    await eventually(() => subs.every((s) => s.messages.length === 3), 10_000, "three per room");
    subs.forEach((sub, i) => {
      assert.deepEqual(
        sub.messages,
        [1, 2, 3].map((n) => `${n}:${rooms[i]}${n}`),
      );
    });
  });
});

describe(`starting on Redis (${runtimeUnderTest})`, () => {
  it("exits 1 with one line when Redis cannot be reached", async () => {
    const port = await freePort();
    const run = await runToExit(runtimeUnderTest, [
      "--port",
      "0",
      "--store",
      "redis",
      "--redis-url",
      `redis://:secret@127.0.0.1:${port}`,
    ]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, /^cannot use Redis: .*ECONNREFUSED/m);
    assert.doesNotMatch(run.stderr, /secret|\n\s+at /, "no password, no stack");
  });

  it("gives the password in the URL, and exits 1 without showing it when it is wrong", async () => {
    const redis = await startRedis({ requirepass: "s3cret-pw" });
    try {
      const url = (password: string) => redis.url.replace("redis://", `redis://:${password}@`);
      const server = await spawnRedisInstance(url("s3cret-pw"));
      const { client, close } = chat(server);
      assert.equal((await client.send({ room: "pw", sender: "s", text: "hi" })).seq, 1n);
      close();
      await server.close();
      const wrong = await runToExit(runtimeUnderTest, [
        "--port",
        "0",
        "--store",
        "redis",
        "--redis-url",
        url("wrong-pw"),
      ]);
      assert.equal(wrong.code, 1, wrong.stderr);
      assert.match(wrong.stderr, /^cannot use Redis: /m);
      assert.doesNotMatch(wrong.stderr, /wrong-pw|s3cret-pw|\n\s+at /);
    } finally {
      await redis.stop();
    }
  });

  it("warns at startup when Redis keeps nothing on disk, and not when it has an AOF", async () => {
    const volatile = await startRedis({ persistence: false });
    const durable = await startRedis({ appendfsync: "always" });
    try {
      const warnings = async (redis: RedisProcess) => {
        const server = await spawnRedisInstance(redis.url, instanceArgs);
        await server.close();
        return server.log.filter((l) => l.level === 40).map((l) => l.msg);
      };
      assert.deepEqual(
        (await warnings(volatile)).filter((m) => /keeps nothing on disk/.test(m)).length,
        1,
      );
      assert.deepEqual(await warnings(durable), []);
    } finally {
      await volatile.stop();
      await durable.stop();
    }
  });
});
