import assert from "node:assert/strict";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { tempDirs } from "../../../test/support/temp-dir.ts";
import { messageStoreContract } from "../../core/message-store.case.ts";
import type { SqliteDatabase } from "./driver.ts";
import { DataDirError, StorageFullError } from "./errors.ts";
import { openSqlite } from "./open-driver.ts";
import { openSqliteStore } from "./open-store.ts";
import { createSqliteStore } from "./sqlite-store.ts";

const temp = tempDirs("chat-sqlite-");
const tempDir = () => temp.make();
after(() => temp.removeAll());

messageStoreContract("sqlite", async (options) =>
  createSqliteStore({ db: await openSqlite(join(tempDir(), "chat.db")), ...options }),
);

describe("sqlite store on disk", () => {
  it("keeps messages, heads and the epoch across a reopen", async () => {
    const dataDir = join(tempDir(), "nested", "data");
    const first = await openSqliteStore({ dataDir });
    await first.append({ room: "r", sender: "a", text: "one", clientId: "id-1" });
    await first.append({ room: "r", sender: "a", text: "two", clientId: "" });
    const epoch = first.epoch;
    await first.close();

    const second = await openSqliteStore({ dataDir });
    assert.equal(second.epoch, epoch);
    assert.deepEqual(
      (await second.readAfter("r", 0n, 10)).map((m) => m.text),
      ["one", "two"],
    );
    const retry = await second.append({ room: "r", sender: "a", text: "one", clientId: "id-1" });
    assert.deepEqual([retry.duplicate, retry.message.seq], [true, 1n]);
    assert.equal(
      (await second.append({ room: "r", sender: "a", text: "3", clientId: "" })).message.seq,
      3n,
    );
    await second.close();
  });

  it("migrates a version 1 database: client ids become unique per sender", async () => {
    const file = join(tempDir(), "chat.db");
    const v1 = await openSqlite(file);
    // Version 1's schema, as that server created it.
    v1.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE rooms (room TEXT PRIMARY KEY, head_seq INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE messages (
        room TEXT NOT NULL, seq INTEGER NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL,
        sent_at_ms INTEGER NOT NULL, client_id TEXT NOT NULL, PRIMARY KEY (room, seq)
      ) WITHOUT ROWID;
      CREATE UNIQUE INDEX messages_by_client_id ON messages (room, client_id) WHERE client_id <> '';
      CREATE INDEX messages_by_time ON messages (sent_at_ms);
      INSERT INTO meta VALUES ('schema', '1'), ('epoch', 'old-epoch');
      INSERT INTO rooms VALUES ('r', 1);
    `);
    v1.prepare("INSERT INTO messages VALUES ('r', 1, 'ann', 'hello', ?, 'id-1')").run(Date.now());
    v1.close();

    const db = await openSqlite(file);
    const store = createSqliteStore({ db });
    assert.equal(store.epoch, "old-epoch");
    const indexes = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'")
      .all()
      .map((row) => row.name);
    assert.ok(!indexes.includes("messages_by_client_id"), String(indexes));
    assert.ok(indexes.includes("messages_by_sender_client_id"), String(indexes));
    assert.equal(db.prepare("SELECT value FROM meta WHERE key = 'schema'").get()?.value, "2");
    const retry = await store.append({ room: "r", sender: "ann", text: "x", clientId: "id-1" });
    assert.deepEqual([retry.duplicate, retry.message.seq], [true, 1n]);
    const other = await store.append({ room: "r", sender: "bob", text: "y", clientId: "id-1" });
    assert.deepEqual([other.duplicate, other.message.seq], [false, 2n]);
    await store.close();
  });

  it("gives a new database a new epoch", async () => {
    const a = await openSqliteStore({ dataDir: tempDir() });
    const b = await openSqliteStore({ dataDir: tempDir() });
    assert.notEqual(a.epoch, b.epoch);
    await Promise.all([a.close(), b.close()]);
  });

  it("finishes pending appends on close, then refuses new ones", async () => {
    const store = await openSqliteStore({ dataDir: tempDir() });
    const pending = store.append({ room: "r", sender: "a", text: "late", clientId: "" });
    await store.close();
    assert.equal((await pending).message.seq, 1n);
    await assert.rejects(store.append({ room: "r", sender: "a", text: "x", clientId: "" }));
  });

  it("holds its data dir: a second store there is refused until the first closes", async () => {
    const dataDir = tempDir();
    const first = await openSqliteStore({ dataDir });
    await assert.rejects(
      openSqliteStore({ dataDir }),
      (e) => e instanceof DataDirError && /another chat server is using it/.test(e.message),
    );
    await first.close();
    const second = await openSqliteStore({ dataDir });
    await second.close();
  });

  it("reports a full disk as such, not the failed ROLLBACK after it, and recovers", async () => {
    // SQLite rolls a transaction back by itself when COMMIT fails with
    // SQLITE_FULL; this driver does the same on demand.
    const real = await openSqlite(join(tempDir(), "chat.db"));
    let full = false;
    const db: SqliteDatabase = {
      ...real,
      prepare(sql) {
        const statement = real.prepare(sql);
        if (sql !== "COMMIT") return statement;
        return {
          ...statement,
          run(...params) {
            if (!full) return statement.run(...params);
            real.exec("ROLLBACK");
            throw Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
          },
        };
      },
    };
    const store = createSqliteStore({ db });
    full = true;
    await assert.rejects(
      store.append({ room: "r", sender: "a", text: "lost", clientId: "" }),
      (e) => e instanceof StorageFullError && (e.cause as { code: string }).code === "SQLITE_FULL",
    );
    full = false;
    const next = await store.append({ room: "r", sender: "a", text: "kept", clientId: "" });
    assert.equal(next.message.seq, 1n);
    await store.close();
  });
});
