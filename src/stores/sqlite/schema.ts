import type { SqliteDatabase } from "./driver.ts";

/**
 * Bumped on every incompatible schema change; a newer database is refused,
 * an older one is migrated (see `upgrades`).
 *
 * - 1: the first schema.
 * - 2: idempotency keys are unique per (room, sender, client id), no longer
 *   per (room, client id): one sender cannot probe or take another's ids.
 */
export const schemaVersion = 2;

export type Durability = "full" | "normal";

/** fsync before every acknowledgement: what survives a power loss is what was acknowledged. */
export const defaultDurability: Durability = "full";

/**
 * Creates or checks the schema and returns the database's history epoch.
 *
 * - WAL: readers never block the writer, and a commit is one append to the
 *   log.
 * - `synchronous=FULL` (default): the log is fsynced at every commit, so an
 *   acknowledged message survives a process crash and a power cut. `NORMAL`
 *   survives a process crash (SIGKILL) but may lose the last commits on power
 *   loss, and skips the fsync.
 * - Messages are keyed (room, seq) without a rowid: a room's history is one
 *   contiguous range of the B-tree, so replays and trims are range scans.
 */
export function migrate(db: SqliteDatabase, durability: Durability): string {
  db.exec("PRAGMA journal_mode = WAL");
  db.exec(`PRAGMA synchronous = ${durability === "full" ? "FULL" : "NORMAL"}`);
  db.exec("PRAGMA busy_timeout = 5000");
  db.exec(`
    CREATE TABLE IF NOT EXISTS meta (
      key TEXT PRIMARY KEY,
      value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS rooms (
      room TEXT PRIMARY KEY,
      head_seq INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS messages (
      room TEXT NOT NULL,
      seq INTEGER NOT NULL,
      sender TEXT NOT NULL,
      text TEXT NOT NULL,
      sent_at_ms INTEGER NOT NULL,
      client_id TEXT NOT NULL,
      PRIMARY KEY (room, seq)
    ) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS messages_by_time ON messages (sent_at_ms);
  `);
  const insert = db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)");
  insert.run("schema", String(schemaVersion));
  insert.run("epoch", crypto.randomUUID());
  const read = db.prepare("SELECT value FROM meta WHERE key = ?");
  const version = Number(read.get("schema")?.value);
  if (version > schemaVersion) {
    throw new Error(
      `the database has schema version ${version}, newer than this server's ${schemaVersion}: upgrade the server`,
    );
  }
  for (let v = version + 1; v <= schemaVersion; v++) {
    // Each step and its version bump commit together: a crash leaves the
    // database at one version or the next, never between.
    db.exec("BEGIN IMMEDIATE");
    try {
      upgrades[v]?.(db);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema'").run(String(v));
      db.exec("COMMIT");
    } catch (e) {
      db.exec("ROLLBACK");
      throw e;
    }
  }
  db.exec(`
    CREATE UNIQUE INDEX IF NOT EXISTS messages_by_sender_client_id
      ON messages (room, sender, client_id) WHERE client_id <> '';
  `);
  return String(read.get("epoch")?.value);
}

/** The step from version `v - 1` to `v`, by `v`. */
const upgrades: Record<number, (db: SqliteDatabase) => void> = {
  // Version 1's index made client ids unique per room, across senders; the
  // new index (created above for every version) is per sender. Every row
  // that was unique per room is unique per sender too.
  2: (db) => db.exec("DROP INDEX IF EXISTS messages_by_client_id"),
};
