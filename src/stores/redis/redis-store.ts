import { Buffer } from "node:buffer";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { StoreUnavailableError } from "../../core/errors.ts";
import type {
  AppendResult,
  MessageStore,
  NewMessage,
  RetentionPolicy,
} from "../../core/message-store.ts";
import { defaultRetention } from "../../core/message-store.ts";
import { type Message, MessageSchema } from "../../gen/chat/v1/chat_pb.ts";
import type { RedisConnection } from "./connect.ts";
import { mapError } from "./connection-errors.ts";
import { type EpochListener, openEpochGate } from "./epoch-gate.ts";
import { defaultPrefix, roomChannel, roomKeys } from "./keys.ts";
import { appendScript, readScript } from "./store-scripts.ts";

export interface RedisStoreOptions {
  /**
   * The store does not own it: the app closes it after the store (and the
   * pub/sub that shares it) are done. Whether it is a cluster decides
   * between PUBLISH and SPUBLISH.
   */
  connection: RedisConnection;
  /** Key prefix (see keys.ts). Default "chat". Instances sharing it share the history. */
  prefix?: string;
  /**
   * Default 10,000 messages per room, any age. Applied exactly, by the append
   * script (reads also hide what is past the age limit). With an age limit,
   * a room's log and ids expire (TTL) that long after its last append, so an
   * idle room's history is freed by Redis itself; its meta (head seq, epoch)
   * is kept, so seqs are never reused.
   */
  retention?: Partial<RetentionPolicy>;
  /**
   * Clock, for tests. Default `Date.now`. `sent_at` is this instance's clock,
   * not Redis's: instances need synchronised clocks (NTP) for `sent_at` and
   * age retention to agree.
   */
  now?: () => number;
}

/**
 * A {@link MessageStore} shared by every instance connected to one Redis
 * (or Redis Cluster).
 */
export interface RedisStore extends MessageStore {
  /**
   * Each append publishes the stored message as chat.v1 `Event` bytes on
   * `roomChannel(prefix, room)`, in the same script that stores it: every
   * instance hears every message exactly in store order, so the caller must
   * not publish again.
   */
  readonly publishesAppends: true;
  /**
   * The history's name, kept in Redis (`<prefix>:epoch`) so every instance
   * reports the same one. It changes when Redis comes back empty.
   */
  readonly epoch: string;
  /** False while Redis is unreachable, and after a reconnect until the epoch is checked. */
  readonly available: boolean;
  /**
   * Resolves when the store is available (at once if it is), e.g. to re-read
   * after a reconnect. Rejects when `signal` aborts or the store closes.
   */
  whenAvailable(signal?: AbortSignal): Promise<void>;
  /**
   * Calls `listener` when the epoch changed: a Redis that came back empty,
   * or another instance that found so first. Listener errors are ignored.
   * Returns a function that removes the listener.
   */
  onEpochChange(listener: EpochListener): () => void;
}

const text = (b: unknown) => String(b);
/** Buffers from the client, as the Uint8Array protobuf-es reads. */
const bytes = (b: unknown) => (b instanceof Uint8Array ? b : new TextEncoder().encode(String(b)));

/**
 * Creates the store once the epoch is read (or created). Rooms carry the
 * epoch they were written under too, so an instance that missed a change
 * cannot append to the new history: it learns the new epoch instead.
 */
export async function createRedisStore(options: RedisStoreOptions): Promise<RedisStore> {
  const { connection } = options;
  const prefix = options.prefix ?? defaultPrefix;
  const { maxMessagesPerRoom, maxAgeMs } = { ...defaultRetention, ...options.retention };
  const now = options.now ?? Date.now;
  const publish = connection.redis.kind === "cluster" ? "SPUBLISH" : "PUBLISH";
  const pending = new Set<Promise<unknown>>();
  const gate = await openEpochGate(connection, prefix, async () => {
    await connection.loadScript(appendScript);
    await connection.loadScript(readScript);
  }).catch(mapError);

  /** Runs `op` unless unavailable, counting it as pending for `close`. */
  function guarded<T>(op: () => Promise<T>): Promise<T> {
    try {
      gate.assertAvailable();
    } catch (e) {
      return Promise.reject(e);
    }
    const promise = op().catch(mapError);
    pending.add(promise);
    const done = () => pending.delete(promise);
    promise.then(done, done);
    return promise;
  }

  async function runAppend(input: NewMessage, adopt: boolean): Promise<AppendResult> {
    const { room, sender, text: body, clientId } = input;
    const keys = roomKeys(prefix, room);
    const sentAt = Math.floor(now());
    const epoch = gate.epoch;
    const partial = toBinary(
      MessageSchema,
      create(MessageSchema, { room, sender, text: body, clientId }),
    );
    const reply = (await connection.script(
      appendScript,
      [keys.log, keys.meta, keys.ids],
      [
        epoch,
        adopt ? "1" : "0",
        String(sentAt),
        String(maxAgeMs > 0 ? sentAt - maxAgeMs : 0),
        String(maxMessagesPerRoom),
        clientId === "" ? "" : `${sender}\u0000${clientId}`,
        Buffer.from(partial.buffer, partial.byteOffset, partial.byteLength),
        roomChannel(prefix, room),
        publish,
        String(maxAgeMs),
      ],
    )) as unknown[];
    const [kind, value] = [text(reply[0]), reply[1]];
    if (kind === "dup") {
      return { message: fromBinary(MessageSchema, bytes(value)), duplicate: true };
    }
    if (kind === "epoch") {
      // Another instance saw a new history first: this one now reports it too.
      if ((await gate.sync()) !== epoch) {
        throw new StoreUnavailableError("the message history was replaced");
      }
      // The room is older than the current epoch (the epoch key was lost, the room was not).
      return runAppend(input, true);
    }
    const message = create(MessageSchema, {
      room,
      sender,
      text: body,
      clientId,
      seq: BigInt(text(value)),
      sentAt: timestampFromMs(sentAt),
    });
    return { message, duplicate: false };
  }

  async function read(room: string, mode: string, at: bigint, limit: number) {
    const keys = roomKeys(prefix, room);
    const cutoff = maxAgeMs > 0 ? Math.floor(now()) - maxAgeMs : 0;
    const reply = (await connection.script(
      readScript,
      [keys.log, keys.meta],
      [String(cutoff), mode, String(at), String(Math.max(0, limit))],
    )) as unknown[];
    return {
      headSeq: BigInt(text(reply[0])),
      firstSeq: BigInt(text(reply[1])),
      messages: reply.slice(2).map((m): Message => fromBinary(MessageSchema, bytes(m))),
    };
  }

  return {
    publishesAppends: true,
    get epoch() {
      return gate.epoch;
    },
    get available() {
      return gate.available;
    },
    whenAvailable: (signal) => gate.whenAvailable(signal),
    onEpochChange: (listener) => gate.onEpochChange(listener),
    append: (message) => guarded(() => runAppend(message, false)),
    readAfter: (room, afterSeq, limit) =>
      guarded(async () => (await read(room, "after", afterSeq, limit)).messages),
    readBefore: (room, beforeSeq, limit) =>
      guarded(async () => (await read(room, "before", beforeSeq, limit)).messages),
    bounds: (room) =>
      guarded(async () => {
        const { firstSeq, headSeq } = await read(room, "bounds", 0n, 0);
        return { firstSeq, headSeq };
      }),
    /** Waits for pending operations; leaves the connection open (its owner closes it). */
    async close() {
      gate.close();
      await Promise.allSettled([...pending]);
    },
  };
}
