import assert from "node:assert/strict";
import type { Buffer } from "node:buffer";
import { after, before, describe, it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { type RedisProcess, startRedis, startRedisCluster } from "../../../test/support/redis.ts";
import { StoreUnavailableError } from "../../core/errors.ts";
import type { StoreFactoryOptions } from "../../core/message-store.case.ts";
import { messageStoreContract } from "../../core/message-store.case.ts";
import { EventSchema, type Message, MessageSchema } from "../../gen/chat/v1/chat_pb.ts";
import { connectRedis, describePersistence, luaScript, type RedisConnection } from "./connect.ts";
import { roomChannel, roomKeys } from "./keys.ts";
import { whenStoreAvailable } from "./open-redis.ts";
import { createRedisStore, type RedisStore } from "./redis-store.ts";

/** Servers and connections, shut down after the file (last started, first stopped). */
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function lazily<T>(start: () => Promise<T>): () => Promise<T> {
  let started: Promise<T> | undefined;
  return () => {
    started ??= start();
    return started;
  };
}

async function connect(url: string): Promise<RedisConnection> {
  const connection = await connectRedis({ url, name: "chat-test" });
  cleanups.push(() => connection.close());
  return connection;
}

const singleNode = lazily(async () => {
  const redis = await startRedis();
  cleanups.push(() => redis.stop());
  return { redis, connection: await connect(redis.url) };
});

const cluster = lazily(async () => {
  const redis = await startRedisCluster();
  cleanups.push(() => redis.stop());
  return { redis, connection: await connect(redis.url) };
});

let prefixes = 0;
/** Each store gets its own prefix: the contract wants fresh, empty stores. */
function freshPrefix(): string {
  prefixes += 1;
  return `test${prefixes}-${crypto.randomUUID().slice(0, 8)}`;
}

const factory =
  (server: () => Promise<{ connection: RedisConnection }>) =>
  async (options: StoreFactoryOptions = {}) =>
    createRedisStore({
      connection: (await server()).connection,
      prefix: freshPrefix(),
      ...options,
    });

messageStoreContract("redis", factory(singleNode));
messageStoreContract("redis cluster", factory(cluster));

/** Polls a condition that an event elsewhere makes true (reconnects are not awaitable here). */
async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const note = (room: string, text: string, clientId = "") => ({
  room,
  sender: "ann",
  text,
  clientId,
});

describe("redis store: Redis going away", () => {
  let redis: RedisProcess;
  let connection: RedisConnection;
  before(async () => {
    redis = await startRedis({ appendfsync: "always" });
    cleanups.push(() => redis.stop());
    connection = await connect(redis.url);
  });

  it("fails fast while Redis is down, then goes on with the next seq and the same epoch", async () => {
    const store = await createRedisStore({ connection, prefix: freshPrefix() });
    const epoch = store.epoch;
    const changes: string[] = [];
    store.onEpochChange((e) => changes.push(e));
    await store.append(note("r", "one"));
    await store.append(note("r", "two"));

    await redis.kill("SIGKILL");
    await until(() => !store.available);
    for (const attempt of [
      () => store.append(note("r", "lost")),
      () => store.readAfter("r", 0n, 10),
      () => store.bounds("r"),
    ]) {
      const started = performance.now();
      await assert.rejects(attempt(), StoreUnavailableError);
      assert.ok(performance.now() - started < 100, "rejected at once, not after a timeout");
    }

    await redis.restart();
    await store.whenAvailable(AbortSignal.timeout(5000));
    assert.equal(store.epoch, epoch);
    assert.deepEqual(changes, []);
    assert.equal((await store.append(note("r", "three"))).message.seq, 3n);
    assert.deepEqual(
      (await store.readAfter("r", 0n, 10)).map((m) => m.text),
      ["one", "two", "three"],
    );
    await store.close();
  });

  it("keeps every acknowledged append when the connection drops mid-burst", async () => {
    const store = await createRedisStore({ connection, prefix: freshPrefix() });
    const appends = Array.from({ length: 500 }, (_, i) => store.append(note("r", `m${i}`)));
    await appends[0];
    await redis.kill("SIGKILL");
    const results = await Promise.allSettled(appends);
    const acked = new Map<bigint, string>();
    for (const r of results) {
      if (r.status === "fulfilled") acked.set(r.value.message.seq, r.value.message.text);
      else assert.ok(r.reason instanceof StoreUnavailableError, r.reason);
    }
    await redis.restart();
    await store.whenAvailable(AbortSignal.timeout(5000));
    const kept = await store.readAfter("r", 0n, 1000);
    // Gap-free from 1; every acknowledged message is there (AOF, fsync always).
    assert.deepEqual(
      kept.map((m) => m.seq),
      kept.map((_, i) => BigInt(i + 1)),
    );
    for (const m of kept) if (acked.has(m.seq)) assert.equal(m.text, acked.get(m.seq));
    assert.ok(kept.length >= acked.size, `${kept.length} kept, ${acked.size} acknowledged`);
    await store.close();
  });

  it("whenAvailable waits for the reconnect, and gives up on abort or close", async () => {
    const store = await createRedisStore({ connection, prefix: freshPrefix() });
    await store.whenAvailable();
    await redis.kill("SIGKILL");
    await until(() => !store.available);
    const aborted = new AbortController();
    const waiting = store.whenAvailable(aborted.signal);
    aborted.abort(new Error("gave up"));
    await assert.rejects(waiting, /gave up/);
    const back = store.whenAvailable();
    await redis.restart();
    await back;
    assert.ok(store.available);
    await redis.kill("SIGKILL");
    await until(() => !store.available);
    const closing = store.whenAvailable();
    await store.close();
    await assert.rejects(closing, /closed/);
    await redis.restart();
  });

  it("a resync still waiting for the store when it closes is dropped, not an unhandled rejection", async () => {
    await until(() => connection.up); // back from the restart that ended the test before
    const store = await createRedisStore({ connection, prefix: freshPrefix() });
    await redis.kill("SIGKILL");
    await until(() => !store.available);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      let resynced = false;
      whenStoreAvailable(store, () => {
        resynced = true;
      });
      await store.close();
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(resynced, false);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await redis.restart();
    }
  });
});

describe("redis store: Redis restarted empty", () => {
  let redis: RedisProcess;
  let connection: RedisConnection;
  before(async () => {
    redis = await startRedis({ persistence: false });
    cleanups.push(() => redis.stop());
    connection = await connect(redis.url);
  });

  it("warns that nothing is kept on disk", async () => {
    const persistence = await connection.persistence();
    assert.deepEqual(persistence, { aof: false, appendfsync: "always", rdbSaves: false });
    assert.match(describePersistence(persistence) ?? "", /keeps nothing on disk/);
    const kept = { aof: true, appendfsync: "always", rdbSaves: false };
    assert.equal(describePersistence(kept), undefined);
  });

  it("gives a new epoch, tells the listeners, and starts the rooms again", async () => {
    const prefix = freshPrefix();
    const store = await createRedisStore({ connection, prefix });
    const before = store.epoch;
    await store.append(note("r", "one"));
    const changed = new Promise<[string, string]>((resolve) => {
      store.onEpochChange((epoch, previous) => resolve([epoch, previous]));
    });
    await redis.restart();
    const [epoch, previous] = await changed;
    assert.equal(previous, before);
    assert.notEqual(epoch, before);
    assert.equal(store.epoch, epoch);
    await until(() => store.available);
    assert.deepEqual(await store.bounds("r"), { firstSeq: 1n, headSeq: 0n });
    assert.equal((await store.append(note("r", "new"))).message.seq, 1n);
    const other = await createRedisStore({ connection, prefix });
    assert.equal(other.epoch, epoch, "every instance agrees");
    await Promise.all([store.close(), other.close()]);
  });

  it("an instance with a stale epoch learns the new one instead of appending", async () => {
    const prefix = freshPrefix();
    const stale = await createRedisStore({ connection, prefix });
    await stale.append(note("r", "one"));
    // Another instance found the epoch key gone (its node lost it) and made a new one.
    await connection.command(`${prefix}:epoch`, ["SET", `${prefix}:epoch`, "new-epoch-0001"]);
    const current = await createRedisStore({ connection, prefix });
    assert.equal(current.epoch, "new-epoch-0001");
    // The room survived: the current instance takes it over under its epoch.
    assert.equal((await current.append(note("r", "two"))).message.seq, 2n);
    const heard: string[] = [];
    stale.onEpochChange((epoch) => heard.push(epoch));
    await assert.rejects(stale.append(note("r", "stale")), StoreUnavailableError);
    assert.deepEqual(heard, ["new-epoch-0001"]);
    assert.equal((await stale.append(note("r", "three"))).message.seq, 3n);
    await Promise.all([stale.close(), current.close()]);
  });
});

const rawRange = luaScript("return redis.call('XRANGE', KEYS[1], '-', '+')");

/** Everything one append left in Redis and on the channel, decoded. */
async function appendAndObserve(
  connection: RedisConnection,
  store: RedisStore,
  prefix: string,
  room: string,
): Promise<{ returned: Message; published: Message; stored: Message }> {
  const payloads: Buffer[] = [];
  const channel = roomChannel(prefix, room);
  const listener = (message: Buffer) => payloads.push(message);
  const { redis } = connection;
  const subscriber = redis.kind === "node" ? redis.client.duplicate() : redis.cluster.duplicate();
  subscriber.on("error", () => {});
  await subscriber.connect();
  try {
    if (redis.kind === "node") await subscriber.subscribe(channel, listener, true);
    else await subscriber.sSubscribe(channel, listener, true);
    const { message: returned } = await store.append({
      room,
      sender: "bob",
      text: "hé 👋 \u0000 long ".repeat(20),
      clientId: "c-1",
    });
    await until(() => payloads.length > 0);
    const event = fromBinary(EventSchema, payloads[0] as Buffer);
    assert.equal(event.kind.case, "message");
    // The stream entry as the script wrote it, as bytes.
    const log = roomKeys(prefix, room).log;
    const entries = (await connection.script(rawRange, [log], [])) as [Buffer, Buffer[]][];
    assert.equal(entries.length, 1);
    const fields = entries[0]?.[1] ?? [];
    const m = fields[fields.findIndex((f) => f.toString() === "m") + 1] as Buffer;
    const stored = fromBinary(MessageSchema, m);
    assert.deepEqual((await store.readAfter(room, 0n, 1))[0], stored);
    return { returned, published: event.kind.value as Message, stored };
  } finally {
    await subscriber.close();
  }
}

for (const [name, server] of [
  ["redis", singleNode],
  ["redis cluster", cluster],
] as const) {
  describe(`${name} store: what an append stores and publishes`, () => {
    it("publishes an Event whose message is the one append returned", async () => {
      const { connection } = await server();
      const prefix = freshPrefix();
      // Seconds and seq both need multi-byte varints; nanos non-zero.
      const store = await createRedisStore({ connection, prefix, now: () => 1_764_547_200_123 });
      const meta = roomKeys(prefix, "big").meta;
      await connection.command(meta, ["HSET", meta, "head", String(2 ** 40)]);
      const { returned, published, stored } = await appendAndObserve(
        connection,
        store,
        prefix,
        "big",
      );
      assert.equal(returned.seq, 2n ** 40n + 1n);
      assert.equal(returned.sentAt?.nanos, 123_000_000);
      assert.deepEqual(published, returned);
      assert.deepEqual(stored, returned);
      await store.close();
    });

    it("encodes a whole-second sent_at and seq 1 the same way", async () => {
      const { connection } = await server();
      const prefix = freshPrefix();
      const store = await createRedisStore({ connection, prefix, now: () => 1_000 });
      const { returned, published, stored } = await appendAndObserve(
        connection,
        store,
        prefix,
        "r",
      );
      assert.equal(returned.seq, 1n);
      assert.deepEqual([returned.sentAt?.seconds, returned.sentAt?.nanos], [1n, 0]);
      assert.deepEqual(published, returned);
      assert.deepEqual(stored, returned);
      await store.close();
    });
  });
}

describe("redis cluster store: key layout", () => {
  it("puts every key and the channel of a room in one slot", async () => {
    const { connection } = await cluster();
    for (const room of ["general", "a.b-c_d", "x{y}z", "}", "{", "", "%7B"]) {
      const keys = roomKeys("chat", room);
      const names = [keys.log, keys.meta, keys.ids, roomChannel("chat", room)];
      const slots = await Promise.all(
        names.map((n) => connection.command(undefined, ["CLUSTER", "KEYSLOT", n])),
      );
      assert.equal(new Set(slots).size, 1, `${room}: ${names.join(" ")} → ${slots.join(" ")}`);
    }
    assert.notEqual(roomKeys("chat", "{").log, roomKeys("chat", "%7B").log);
  });

  it("reports the weakest master's persistence", async () => {
    const { connection } = await cluster();
    assert.deepEqual(await connection.persistence(), {
      aof: true,
      appendfsync: "always",
      rdbSaves: false,
    });
  });
});
