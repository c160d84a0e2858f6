import type { SqliteDatabase } from "./driver.ts";

/** Bumped on every incompatible schema change; a newer database is refused. */
export const schemaVersion = 1;

export type Durability = "full" | "normal";

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
    CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_id
      ON messages (room, client_id) WHERE client_id <> '';
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
  return String(read.get("epoch")?.value);
}
