/**
 * The narrow synchronous SQLite API this project needs, implemented by a thin
 * adapter per runtime (better-sqlite3 on Node 20, `node:sqlite` on Node >=
 * 22.5 and Deno, `bun:sqlite` on Bun). All three drivers are synchronous and
 * share this shape almost exactly; the adapters only smooth the differences
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
  /** Which driver this is, for logs ("better-sqlite3", "node:sqlite", "bun:sqlite"). */
  readonly driver: string;
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}
