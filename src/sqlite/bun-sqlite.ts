import type { SqliteDatabase, SqliteRow, SqliteValue } from "./driver.ts";

/** The part of `bun:sqlite` used here. */
interface BunSqliteModule {
  Database: new (
    path: string,
    options?: { create?: boolean; strict?: boolean },
  ) => {
    exec(sql: string): void;
    prepare(sql: string): {
      run(...params: SqliteValue[]): unknown;
      get(...params: SqliteValue[]): SqliteRow | null;
      all(...params: SqliteValue[]): SqliteRow[];
    };
    close(): void;
  };
}

/** Bun: the built-in `bun:sqlite`. */
export async function openBunSqlite(path: string): Promise<SqliteDatabase> {
  const specifier = "bun:sqlite";
  const { Database } = (await import(specifier)) as BunSqliteModule;
  const db = new Database(path, { create: true, strict: true });
  return {
    driver: "bun:sqlite",
    exec: (sql) => db.exec(sql),
    prepare(sql) {
      const stmt = db.prepare(sql);
      return {
        run: (...params) => {
          stmt.run(...params);
        },
        // Bun answers "no row" with null, the others with undefined.
        get: (...params) => stmt.get(...params) ?? undefined,
        all: (...params) => stmt.all(...params),
      };
    },
    close: () => db.close(),
  };
}
