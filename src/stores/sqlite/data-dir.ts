import { closeSync, mkdirSync, openSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { DataDirError } from "./errors.ts";

/**
 * Makes sure `dir` is a directory the server can write in, creating it and
 * any missing parents (`mkdir -p`: the default `.data` has always been
 * created on first start, and a fresh volume path should work the same).
 * Writing is proven by creating `firstFile` in it (if missing), the file the
 * server writes first anyway: Deno's `accessSync` needs a permission of its
 * own, and asking SQLite would only say "unable to open database file".
 *
 * Throws a {@link DataDirError} whose one-line message names the path at
 * fault and why: a file where a directory is expected, a read-only file
 * system, no permission, a parent that cannot exist (a dangling symbolic
 * link), no space left.
 */
export function prepareDataDir(dir: string, firstFile: string): void {
  try {
    makeDirectory(dir);
    closeSync(openSync(join(dir, firstFile), "a"));
  } catch (e) {
    throw new DataDirError(`cannot use data directory ${dir}: ${describeFsError(e, dir)}`, {
      cause: e,
    });
  }
}

/**
 * `mkdir -p`, one level at a time. Node 20's `mkdirSync(dir, { recursive:
 * true })` loops for ever when mkdir says ENOENT under a parent that exists
 * (`/proc/x`); this asks each level once, and its errors name the level.
 */
function makeDirectory(dir: string): void {
  try {
    mkdirSync(dir);
    return;
  } catch (e) {
    const code = errnoCode(e);
    if (code === "EEXIST") {
      assertDirectory(dir);
      return;
    }
    if (code !== "ENOENT" && code !== "ENOTDIR") throw e;
  }
  const parent = dirname(dir);
  if (parent === dir) throw new Error(`${dir} does not exist`);
  makeDirectory(parent);
  try {
    mkdirSync(dir);
  } catch (e) {
    if (errnoCode(e) !== "EEXIST") throw e;
    assertDirectory(dir);
  }
}

function assertDirectory(path: string): void {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (e) {
    // It exists (mkdir said so) yet cannot be followed: a dangling symbolic link.
    throw new Error(`${path} is a symbolic link to nowhere (${describeFsError(e, path)})`);
  }
  if (!isDirectory) throw new Error(`${path} is a file, not a directory`);
}

function errnoCode(e: unknown): string | undefined {
  return (e as { code?: string } | null)?.code;
}

const errnoText: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "permission denied",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  ENOENT: "no such file or directory",
  ENOTDIR: "a path component is not a directory",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "file name too long",
};

/** A file-system error as a few words, naming its path unless that is `known`. */
function describeFsError(e: unknown, known?: string): string {
  const code = errnoCode(e);
  const text = code === undefined ? undefined : errnoText[code];
  if (text === undefined) return e instanceof Error ? e.message : String(e);
  const path = (e as { path?: string }).path;
  return path === undefined || path === known ? text : `${path}: ${text}`;
}
