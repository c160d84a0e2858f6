import { join } from "node:path";
import type { SqliteDatabase } from "./driver.ts";
import { DataDirError, isSqliteError } from "./errors.ts";
import { openSqlite } from "./open-driver.ts";

/** The lock's file name inside the data directory. */
export const lockFile = "chat.lock";

/** Held while a server uses a data directory; `release` lets the next one in. */
export interface DataDirLock {
  release(): void;
}

/**
 * Claims `dir` for this server, so that a second server on the same
 * database is refused instead of silently splitting live events and
 * presence with the first (each only sees the subscribers connected to it).
 *
 * The lock is SQLite's own: an exclusive transaction, held open, on an
 * empty database file `chat.lock` next to `chat.db`. SQLite takes it
 * atomically with an OS file lock, and the kernel drops that lock when the
 * process ends however it ends (SIGKILL, crash), so there is no stale lock
 * to detect and no pid to trust (pids are reused, and differ between
 * containers sharing a volume). It works alike on all three drivers, in one
 * process as across processes. A separate file keeps `chat.db` itself open
 * to tools (the sqlite3 shell, backups) while the server runs.
 *
 * Throws a {@link DataDirError} if another server holds the lock.
 */
export async function lockDataDir(dir: string): Promise<DataDirLock> {
  const path = join(dir, lockFile);
  const db = await openSqlite(path);
  try {
    // Fail at once, not after the driver's default wait (5 s in better-sqlite3).
    db.exec("PRAGMA busy_timeout = 0");
    // Nothing is ever written: no journal file is needed.
    db.exec("PRAGMA journal_mode = MEMORY");
    db.exec("BEGIN EXCLUSIVE");
  } catch (e) {
    db.close();
    if (isSqliteError(e, "BUSY")) {
      throw new DataDirError(
        `cannot use data directory ${dir}: another chat server is using it (it holds ${path}); stop that one or choose another --data-dir`,
        { cause: e },
      );
    }
    throw e;
  }
  return { release: () => closeQuietly(db) };
}

/** Ends the transaction and drops the lock; a second release is a no-op. */
function closeQuietly(db: SqliteDatabase): void {
  try {
    db.close();
  } catch {
    // Already closed.
  }
}
