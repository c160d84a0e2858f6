import type { SqliteDatabase } from "./driver.ts";

/** Node 20 (no `node:sqlite`): the native better-sqlite3 addon. */
export async function openBetterSqlite3(path: string): Promise<SqliteDatabase> {
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(path);
  return {
    driver: "better-sqlite3",
    exec: (sql) => {
      db.exec(sql);
    },
    prepare(sql) {
      const stmt = db.prepare(sql);
      return {
        run: (...params) => {
          stmt.run(...params);
        },
        get: (...params) => stmt.get(...params) as Record<string, unknown> | undefined,
        all: (...params) => stmt.all(...params) as Record<string, unknown>[],
      };
    },
    close: () => db.close(),
  };
}
