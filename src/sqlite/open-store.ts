import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { MessageStore, RetentionPolicy } from "../core/message-store.ts";
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

/** Opens (creating if needed) the SQLite store in `dataDir`. */
export async function openSqliteStore(options: OpenSqliteStoreOptions): Promise<MessageStore> {
  mkdirSync(options.dataDir, { recursive: true });
  const db = await openSqlite(join(options.dataDir, databaseFile));
  try {
    return createSqliteStore({ ...options, db });
  } catch (e) {
    db.close();
    throw e;
  }
}
