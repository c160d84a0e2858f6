/**
 * A writable copy of the shared bench-peers folder (load generator, peer servers, run.sh).
 * The shared folder may be read-only, and npm needs to write node_modules next to each
 * package.json, so the harness works on a copy in the temp dir, refreshed whenever the
 * source changes and installed with `npm ci` only when node_modules is missing or stale.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import * as os from "node:os";
import { join, relative } from "node:path";

/** Folders of the source that are never copied: installed or produced there, not source. */
const notSource = new Set(["node_modules", "results", "__pycache__"]);
/** The packages the harness needs installed (seed-python is not used here). */
const packages = ["load", "ref-grpcjs"];
const stampFile = ".source-sha256";

export interface PeersDir {
  /** The writable copy: run.sh, load/, ref-grpcjs/, ceiling-h2/. */
  readonly root: string;
  /** `load/node_modules/.bin/tsx`, which runs the load generator. */
  readonly tsx: string;
  readonly loadgen: string;
}

/** Default cache location: `${TMPDIR:-/tmp}/connect-chat-bench-peers`. */
export function defaultCacheDir(): string {
  return join(os.tmpdir(), "connect-chat-bench-peers");
}

/**
 * Copies `source` to `cacheDir` unless the copy is already of the same content, then runs
 * `npm ci` in each package whose node_modules is missing or was installed from another lock
 * file. `log` gets a line per step that takes time.
 */
export function preparePeersDir(
  source: string,
  cacheDir: string,
  log: (line: string) => void,
): PeersDir {
  const sha = sourceDigest(source);
  const stampPath = join(cacheDir, stampFile);
  const current = existsSync(stampPath) ? readFileSync(stampPath, "utf8").trim() : "";
  if (current !== sha) {
    log(`copying ${source} to ${cacheDir}`);
    mkdirSync(cacheDir, { recursive: true });
    // Keep installed packages: `npm ci` below decides from the lock file whether they are stale.
    for (const entry of readdirSync(cacheDir)) {
      if (packages.includes(entry)) {
        for (const inner of readdirSync(join(cacheDir, entry))) {
          if (inner !== "node_modules" && inner !== ".npm-ci-sha256") {
            rmSync(join(cacheDir, entry, inner), { recursive: true, force: true });
          }
        }
      } else {
        rmSync(join(cacheDir, entry), { recursive: true, force: true });
      }
    }
    cpSync(source, cacheDir, {
      recursive: true,
      filter: (path) => !notSource.has(path.split("/").pop() ?? ""),
    });
    makeWritable(cacheDir);
    writeFileSync(stampPath, `${sha}\n`);
  }
  for (const pkg of packages) installIfNeeded(join(cacheDir, pkg), log);
  return {
    root: cacheDir,
    tsx: join(cacheDir, "load", "node_modules", ".bin", "tsx"),
    loadgen: join(cacheDir, "load", "loadgen.ts"),
  };
}

function installIfNeeded(dir: string, log: (line: string) => void): void {
  const lock = createHash("sha256")
    .update(readFileSync(join(dir, "package-lock.json")))
    .digest("hex");
  const stamp = join(dir, ".npm-ci-sha256");
  const installed = existsSync(stamp) ? readFileSync(stamp, "utf8").trim() : "";
  // The stamp is written only after a successful install, so a half-done one is redone.
  if (existsSync(join(dir, "node_modules")) && installed === lock) return;
  log(`npm ci in ${dir}`);
  execFileSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel", "error"], {
    cwd: dir,
    stdio: ["ignore", "inherit", "inherit"],
  });
  writeFileSync(stamp, `${lock}\n`);
}

/** Content hash of every source file (path and bytes), so any edit triggers a refresh. */
function sourceDigest(source: string): string {
  const hash = createHash("sha256");
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (notSource.has(entry.name)) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(path);
      } else if (entry.isFile()) {
        hash.update(`${relative(source, path)}\0${statSync(path).mode & 0o111 ? "x" : "-"}\0`);
        hash.update(readFileSync(path));
      }
    }
  };
  walk(source);
  return hash.digest("hex");
}

/** cpSync keeps the source's modes: a read-only source gives read-only folders npm cannot use. */
function makeWritable(dir: string): void {
  chmodSync(dir, statSync(dir).mode | 0o700);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== "node_modules") makeWritable(path);
    } else if (entry.isFile()) {
      chmodSync(path, statSync(path).mode | 0o600);
    }
  }
}
