import { setImmediate } from "node:timers";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  type AppendResult,
  defaultRetention,
  type MessageStore,
  type NewMessage,
  type RetentionPolicy,
} from "../../core/message-store.ts";
import { type Message, MessageSchema } from "../../gen/chat/v1/chat_pb.ts";
import type { SqliteDatabase, SqliteRow } from "./driver.ts";
import { isSqliteError, StorageFullError } from "./errors.ts";
import { type Durability, defaultDurability, migrate } from "./schema.ts";

export interface SqliteStoreOptions {
  /** An open database; the store owns it from now on and closes it. */
  db: SqliteDatabase;
  retention?: Partial<RetentionPolicy>;
  /** See `migrate`. Default `defaultDurability`. */
  durability?: Durability;
  /** Clock, for tests. Default `Date.now`. */
  now?: () => number;
}

interface Pending {
  message: NewMessage;
  resolve(result: AppendResult): void;
  reject(error: unknown): void;
}

/** Seqs as JS numbers in SQL: exact up to 2^53, far beyond any room. */
const noLowerBound = Number.MIN_SAFE_INTEGER;
const noUpperBound = Number.MAX_SAFE_INTEGER;
const columns = "room, seq, sender, text, sent_at_ms, client_id";
/**
 * What reads select. User text comes back as bytes: Deno's `node:sqlite`
 * cuts TEXT values at the first NUL character when reading (the bytes are
 * stored whole), and a note may contain one.
 */
const readColumns =
  "room, seq, CAST(sender AS BLOB) AS sender, CAST(text AS BLOB) AS text, sent_at_ms, client_id";
const utf8 = new TextDecoder();

/** A column read as bytes (Buffer or Uint8Array, by driver) or as a string. */
function text(value: unknown): string {
  return value instanceof Uint8Array ? utf8.decode(value) : String(value ?? "");
}

function toMessage(row: SqliteRow): Message {
  return create(MessageSchema, {
    room: String(row.room),
    seq: BigInt(row.seq as number),
    sender: text(row.sender),
    text: text(row.text),
    sentAt: timestampFromMs(Number(row.sent_at_ms)),
    clientId: String(row.client_id),
  });
}

/**
 * A durable {@link MessageStore} on an embedded SQLite database.
 *
 * Group commit: appends that arrive in the same event-loop turn are written
 * in one transaction and resolve together after it commits, so a busy room
 * pays one fsync per batch, not per message. Appends resolve only after the
 * commit: an acknowledged message is on disk (see `Durability`).
 *
 * Memory stays flat however long the histories: nothing is cached per room;
 * every read is an indexed range scan.
 */
export function createSqliteStore(options: SqliteStoreOptions): MessageStore {
  const { db } = options;
  const { maxMessagesPerRoom, maxAgeMs } = { ...defaultRetention, ...options.retention };
  const now = options.now ?? Date.now;
  const epoch = migrate(db, options.durability ?? defaultDurability);

  const sql = {
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    rollback: db.prepare("ROLLBACK"),
    head: db.prepare("SELECT head_seq FROM rooms WHERE room = ?"),
    setHead: db.prepare(
      "INSERT INTO rooms (room, head_seq) VALUES (?, ?) ON CONFLICT (room) DO UPDATE SET head_seq = excluded.head_seq",
    ),
    byClientId: db.prepare(
      `SELECT ${readColumns} FROM messages WHERE room = ? AND sender = ? AND client_id = ?`,
    ),
    deleteOne: db.prepare("DELETE FROM messages WHERE room = ? AND seq = ?"),
    insert: db.prepare(`INSERT INTO messages (${columns}) VALUES (?, ?, ?, ?, ?, ?)`),
    trim: db.prepare("DELETE FROM messages WHERE room = ? AND seq <= ?"),
    expire: db.prepare("DELETE FROM messages WHERE sent_at_ms < ?"),
    after: db.prepare(
      `SELECT ${readColumns} FROM messages WHERE room = ? AND seq > ? AND sent_at_ms >= ? ORDER BY seq LIMIT ?`,
    ),
    before: db.prepare(
      `SELECT * FROM (SELECT ${readColumns} FROM messages WHERE room = ? AND seq < ? AND sent_at_ms >= ? ORDER BY seq DESC LIMIT ?) ORDER BY seq`,
    ),
    first: db.prepare(
      "SELECT seq FROM messages WHERE room = ? AND sent_at_ms >= ? ORDER BY seq LIMIT 1",
    ),
  };

  let queue: Pending[] = [];
  let flushing: Promise<void> | undefined;
  let closed = false;

  /** Messages sent before this are past the age limit. */
  function cutoff(): number {
    return maxAgeMs > 0 ? now() - maxAgeMs : noLowerBound;
  }

  function headOf(room: string): number {
    return Number(sql.head.get(room)?.head_seq ?? 0);
  }

  /** Stores one message inside the open transaction. */
  function write(input: NewMessage, since: number, heads: Map<string, number>): AppendResult {
    if (input.clientId !== "") {
      const row = sql.byClientId.get(input.room, input.sender, input.clientId);
      if (row !== undefined) {
        if (Number(row.sent_at_ms) >= since) return { message: toMessage(row), duplicate: true };
        // Past the age limit: retention already forgot it, so must we.
        sql.deleteOne.run(input.room, row.seq as number);
      }
    }
    const seq = (heads.get(input.room) ?? headOf(input.room)) + 1;
    heads.set(input.room, seq);
    const sentAt = now();
    sql.insert.run(input.room, seq, input.sender, input.text, sentAt, input.clientId);
    const message = create(MessageSchema, {
      ...input,
      seq: BigInt(seq),
      sentAt: timestampFromMs(sentAt),
    });
    return { message, duplicate: false };
  }

  /**
   * Undoes the open transaction, if SQLite has not already: after
   * SQLITE_FULL, IOERR, NOMEM or BUSY it may have rolled back by itself, and
   * ROLLBACK then fails ("no transaction is active"), which must not take
   * the place of the error that says what went wrong.
   */
  function rollback(): void {
    try {
      sql.rollback.run();
    } catch {
      // Already rolled back.
    }
  }

  function flush(): void {
    const batch = queue;
    queue = [];
    const results: AppendResult[] = [];
    const heads = new Map<string, number>();
    try {
      sql.begin.run();
      try {
        const since = cutoff();
        for (const p of batch) results.push(write(p.message, since, heads));
        for (const [room, head] of heads) {
          sql.setHead.run(room, head);
          sql.trim.run(room, head - maxMessagesPerRoom);
        }
        sql.commit.run();
      } catch (e) {
        rollback();
        throw e;
      }
    } catch (e) {
      const error = isSqliteError(e, "FULL") ? new StorageFullError(e) : e;
      for (const p of batch) p.reject(error);
      return;
    }
    // In queue order, which is seq order within each room.
    batch.forEach((p, i) => {
      p.resolve(results[i] as AppendResult);
    });
  }

  function schedule(): void {
    flushing ??= new Promise<void>((done) => {
      setImmediate(() => {
        flushing = undefined;
        flush();
        done();
      });
    });
  }

  /**
   * A failed sweep (a full disk: deleting writes to the WAL too) is retried
   * at the next interval; thrown from a timer it would end the process.
   */
  function sweep(): void {
    try {
      sql.expire.run(cutoff());
    } catch {
      // Next time.
    }
  }

  // Age retention frees disk in the background; reads already hide expired
  // messages, so the sweep's timing is never visible to clients.
  const sweeper = maxAgeMs > 0 ? setInterval(sweep, Math.min(maxAgeMs, 60_000)) : undefined;
  (sweeper as { unref?: () => void } | undefined)?.unref?.();

  return {
    epoch,

    append(message) {
      if (closed) return Promise.reject(new Error("the store is closed"));
      return new Promise<AppendResult>((resolve, reject) => {
        queue.push({ message, resolve, reject });
        schedule();
      });
    },

    async readAfter(room, afterSeq, limit) {
      return sql.after.all(room, Number(afterSeq), cutoff(), limit).map(toMessage);
    },

    async readBefore(room, beforeSeq, limit) {
      const before = beforeSeq === 0n ? noUpperBound : Number(beforeSeq);
      return sql.before.all(room, before, cutoff(), limit).map(toMessage);
    },

    async bounds(room) {
      const head = headOf(room);
      const first = sql.first.get(room, cutoff())?.seq;
      return {
        firstSeq: BigInt(first === undefined ? head + 1 : (first as number)),
        headSeq: BigInt(head),
      };
    },

    async close() {
      if (closed) return;
      closed = true;
      while (flushing !== undefined) await flushing;
      if (sweeper !== undefined) clearInterval(sweeper);
      db.close();
    },
  };
}
