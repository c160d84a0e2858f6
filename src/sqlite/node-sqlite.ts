import type { SqliteDatabase, SqliteRow, SqliteValue } from "./driver.ts";

/** The part of `node:sqlite` used here (its types are not in @types/node 20). */
interface NodeSqliteModule {
  DatabaseSync: new (
    path: string,
  ) => {
    exec(sql: string): void;
    prepare(sql: string): {
      run(...params: SqliteValue[]): unknown;
      get(...params: SqliteValue[]): SqliteRow | undefined;
      all(...params: SqliteValue[]): SqliteRow[];
    };
    close(): void;
  };
}

/** Deno and Node >= 22.5: the built-in `node:sqlite`. */
export async function openNodeSqlite(path: string): Promise<SqliteDatabase> {
  // A computed specifier keeps Node 20's type checker and loader away from a
  // module it does not have.
  const specifier = "node:sqlite";
  const { DatabaseSync } = (await import(specifier)) as NodeSqliteModule;
  const db = new DatabaseSync(path);
  return {
    driver: "node:sqlite",
    exec: (sql) => db.exec(sql),
    prepare(sql) {
      const stmt = db.prepare(sql);
      return {
        run: (...params) => {
          stmt.run(...params);
        },
        get: (...params) => stmt.get(...params),
        all: (...params) => stmt.all(...params),
      };
    },
    close: () => db.close(),
  };
}
