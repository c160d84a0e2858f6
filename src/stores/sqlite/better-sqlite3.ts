import { adaptSqlite, type NativeSqlite, type SqliteDatabase } from "./driver.ts";
import { DataDirError } from "./errors.ts";

/**
 * Node before 22.13 (no `node:sqlite`): the native better-sqlite3 addon. It
 * is an optional dependency (nothing else needs it), so where it could not
 * build this says what to do instead, as one line at startup (the operator's
 * to fix, like an unusable data directory).
 */
export async function openBetterSqlite3(path: string): Promise<SqliteDatabase> {
  let Database: typeof import("better-sqlite3");
  try {
    ({ default: Database } = await import("better-sqlite3"));
  } catch (e) {
    throw new DataDirError(
      `cannot use SQLite: Node ${process.versions.node} has no node:sqlite (22.13 and newer have it) and the optional better-sqlite3 package did not load (${e instanceof Error ? e.message : String(e)}); install it with npm ci where it can build (python3, make, a C++ compiler), use a newer Node, or start with --store memory or --store redis`,
      { cause: e },
    );
  }
  return adaptSqlite(new Database(path) as NativeSqlite);
}
