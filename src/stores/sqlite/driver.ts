/**
 * The narrow synchronous SQLite API this project needs, implemented by a thin
 * adapter per runtime (better-sqlite3 on Node 20, `node:sqlite` on Node >=
 * 22.5 and Deno, `bun:sqlite` on Bun). All three drivers are synchronous and
 * share this shape almost exactly: `adaptSqlite` smooths the one difference
 * (Bun's `get` returns null for "no row").
 */
export type SqliteValue = string | number | bigint | null;

export type SqliteRow = Record<string, unknown>;

export interface SqliteStatement {
  run(...params: SqliteValue[]): void;
  get(...params: SqliteValue[]): SqliteRow | undefined;
  all(...params: SqliteValue[]): SqliteRow[];
}

export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

/** What every driver's database object offers. */
export interface NativeSqlite {
  exec(sql: string): unknown;
  prepare(sql: string): {
    run(...params: SqliteValue[]): unknown;
    get(...params: SqliteValue[]): unknown;
    all(...params: SqliteValue[]): unknown[];
  };
  close(): unknown;
}

/** Wraps a driver's database in the project's interface. */
export function adaptSqlite(db: NativeSqlite): SqliteDatabase {
  return {
    exec: (sql) => {
      db.exec(sql);
    },
    prepare(sql) {
      const stmt = db.prepare(sql);
      return {
        run: (...params) => {
          stmt.run(...params);
        },
        get: (...params) => (stmt.get(...params) ?? undefined) as SqliteRow | undefined,
        all: (...params) => stmt.all(...params) as SqliteRow[],
      };
    },
    close: () => {
      db.close();
    },
  };
}
