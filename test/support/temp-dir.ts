import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

// Plain node: APIs only: native specs import this module under Bun and Deno too.
const testDataRoot = fileURLToPath(new URL("../../.data/test/", import.meta.url));
let testDirs = 0;

/**
 * A fresh directory under the repository's `.data/` (git-ignored), the only
 * place Deno's `start` task may read and write: test data dirs and TLS files
 * that a server subprocess reads live there, so that every runtime runs with
 * the documented permissions.
 */
export function makeTestDir(prefix: string): string {
  const dir = join(testDataRoot, `${prefix}-${process.pid}-${++testDirs}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Fresh directories under the OS temp dir for one spec file; `removeAll()` (from `after`) removes them. */
export interface TempDirs {
  make(): string;
  removeAll(): void;
}

/** Directories named `prefix` and a random suffix, e.g. `tempDirs("chat-web-")`. */
export function tempDirs(prefix: string): TempDirs {
  const made: string[] = [];
  return {
    make() {
      const dir = mkdtempSync(join(tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    removeAll() {
      for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
