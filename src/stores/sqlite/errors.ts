/**
 * Error kinds of the SQLite store, in one place, and the one function that
 * reads SQLite result codes from whichever driver threw.
 */

/**
 * A write failed because the disk (or the file system's quota) is full. The
 * RPC edge answers ResourceExhausted; `cause` is the driver's SQLITE_FULL.
 */
export class StorageFullError extends Error {
  override name = "StorageFullError";
  constructor(cause: unknown) {
    super("the database's disk is full (SQLITE_FULL)", { cause });
  }
}

/**
 * The data directory cannot be used: it is a file, read-only, cannot be
 * created, or another server holds it. The message is one line that names
 * the directory and says why; the entry point prints it and exits 1.
 */
export class DataDirError extends Error {
  override name = "DataDirError";
}

/**
 * SQLite's primary result codes that the store tells apart, and SQLite's own
 * text for each (sqlite3_errstr).
 */
const results = {
  BUSY: { code: 5, text: "database is locked" },
  READONLY: { code: 8, text: "attempt to write a readonly database" },
  FULL: { code: 13, text: "database or disk is full" },
  CANTOPEN: { code: 14, text: "unable to open database file" },
} as const;

export type SqliteErrorName = keyof typeof results;

/**
 * Whether `e` is SQLite's `SQLITE_<name>` (or an extended code of it), as
 * each driver reports it: better-sqlite3 and `bun:sqlite` set `code:
 * "SQLITE_FULL"`, `node:sqlite` sets `errcode: 13` on Node and Bun, and
 * only SQLite's message on Deno.
 */
export function isSqliteError(e: unknown, name: SqliteErrorName): boolean {
  if (typeof e !== "object" || e === null) return false;
  const { code, errcode, message } = e as { code?: unknown; errcode?: unknown; message?: unknown };
  if (typeof code === "string" && (code === `SQLITE_${name}` || code.startsWith(`SQLITE_${name}_`)))
    return true;
  // Extended result codes keep the primary code in their low byte.
  if (typeof errcode === "number") return (errcode & 0xff) === results[name].code;
  return code === "ERR_SQLITE_ERROR" && message === results[name].text;
}
