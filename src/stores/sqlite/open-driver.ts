import { runtimeName } from "../../runtime.ts";
import type { SqliteDatabase } from "./driver.ts";

/**
 * Opens a SQLite database with the runtime's best driver: `bun:sqlite` on
 * Bun, `node:sqlite` on Deno and on Node versions that have it (22.5+), and
 * the better-sqlite3 addon on older Node (it does not load on Bun or Deno).
 */
export async function openSqlite(path: string): Promise<SqliteDatabase> {
  switch (runtimeName()) {
    case "bun":
      return (await import("./bun-sqlite.ts")).openBunSqlite(path);
    case "deno":
      return (await import("./node-sqlite.ts")).openNodeSqlite(path);
    default:
      if (hasNodeSqlite()) return (await import("./node-sqlite.ts")).openNodeSqlite(path);
      return (await import("./better-sqlite3.ts")).openBetterSqlite3(path);
  }
}

/** `node:sqlite` without a flag: Node 22.13+ and 23.4+. */
function hasNodeSqlite(): boolean {
  const [major = 0, minor = 0] = (globalThis.process?.versions?.node ?? "0").split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 4) || (major === 22 && minor >= 13);
}
