import { join } from "node:path";
import type { MessageStore, RetentionPolicy } from "../../core/message-store.ts";
import { withRecentCache } from "../../core/recent-cache.ts";
import { prepareDataDir } from "./data-dir.ts";
import { lockDataDir, lockFile } from "./data-dir-lock.ts";
import type { SqliteDatabase } from "./driver.ts";
import { DataDirError } from "./errors.ts";
import { openSqlite } from "./open-driver.ts";
import type { Durability } from "./schema.ts";
import { createSqliteStore } from "./sqlite-store.ts";

export interface OpenSqliteStoreOptions {
  /** Directory holding `chat.db` (and its WAL files); created if missing. */
  dataDir: string;
  retention?: Partial<RetentionPolicy>;
  durability?: Durability;
}

/** The file name inside the data directory. */
export const databaseFile = "chat.db";

/**
 * Opens (creating if needed) the SQLite store in `dataDir`, which it holds
 * for itself until `close` (see `lockDataDir`).
 *
 * Every failure to do so is a {@link DataDirError} with a one-line message
 * naming the directory and the cause (the driver's error is its `cause`).
 */
export async function openSqliteStore(options: OpenSqliteStoreOptions): Promise<MessageStore> {
  const { dataDir } = options;
  prepareDataDir(dataDir, lockFile);
  const lock = await lockDataDir(dataDir).catch((e: unknown) => {
    throw asDataDirError(dataDir, e);
  });
  let db: SqliteDatabase | undefined;
  try {
    db = await openSqlite(join(dataDir, databaseFile));
    // SQLite builds new objects per read: recent history is shared instead
    // (a thousand subscribers replaying it at once, see recent-cache.ts).
    const store = withRecentCache(createSqliteStore({ ...options, db }));
    return {
      ...store,
      async close() {
        try {
          await store.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (e) {
    db?.close();
    lock.release();
    throw asDataDirError(dataDir, e);
  }
}

function asDataDirError(dir: string, e: unknown): DataDirError {
  if (e instanceof DataDirError) return e;
  const cause = e instanceof Error ? e.message : String(e);
  return new DataDirError(`cannot use data directory ${dir}: ${cause}`, { cause: e });
}
