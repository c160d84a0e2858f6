import { adaptSqlite, type NativeSqlite, type SqliteDatabase } from "./driver.ts";

/** Bun: the built-in `bun:sqlite`. */
export async function openBunSqlite(path: string): Promise<SqliteDatabase> {
  const specifier = "bun:sqlite";
  const { Database } = (await import(specifier)) as {
    Database: new (path: string, options: { create: boolean; strict: boolean }) => NativeSqlite;
  };
  return adaptSqlite(new Database(path, { create: true, strict: true }));
}
