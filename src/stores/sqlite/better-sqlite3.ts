import { adaptSqlite, type NativeSqlite, type SqliteDatabase } from "./driver.ts";

/** Node 20 (no `node:sqlite`): the native better-sqlite3 addon. */
export async function openBetterSqlite3(path: string): Promise<SqliteDatabase> {
  const { default: Database } = await import("better-sqlite3");
  return adaptSqlite(new Database(path) as NativeSqlite);
}
