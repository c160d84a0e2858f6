import { adaptSqlite, type NativeSqlite, type SqliteDatabase } from "./driver.ts";

/** Deno and Node >= 22.5: the built-in `node:sqlite` (not in @types/node 20). */
export async function openNodeSqlite(path: string): Promise<SqliteDatabase> {
  // A computed specifier keeps Node 20's type checker and loader away from a
  // module it does not have.
  const specifier = "node:sqlite";
  const { DatabaseSync } = (await import(specifier)) as {
    DatabaseSync: new (path: string) => NativeSqlite;
  };
  return adaptSqlite(new DatabaseSync(path));
}
