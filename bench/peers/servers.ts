/**
 * How each server of the comparison is started: the project's own server as a user starts
 * it (minus the web build), the plain grpc-js server and the raw node:http2 ceiling.
 */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const serverNames = ["project", "ref", "ceiling"] as const;
export type ServerName = (typeof serverNames)[number];

export const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/** `{port}` and `{data-dir}` in `argv` are replaced by whoever starts the server. */
export interface ServerCommand {
  readonly argv: readonly string[];
  readonly cwd: string;
}

/**
 * `project`: `node --import tsx src/main.ts` with the project's defaults (SQLite store),
 * loopback, warnings only, and a fresh data dir per start. `projectArgs` replace options
 * already in that list (`--data-dir /x`) or are appended (`--store memory`).
 */
export function serverCommand(
  name: ServerName,
  peersRoot: string,
  projectArgs: readonly string[],
): ServerCommand {
  switch (name) {
    case "project": {
      const base = [
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warn",
        "--data-dir",
        "{data-dir}",
      ];
      const argv = [process.execPath, "--import", "tsx", "src/main.ts"];
      return { argv: [...argv, ...mergeOptions(base, projectArgs)], cwd: repoRoot };
    }
    case "ref":
      return {
        argv: [process.execPath, join(peersRoot, "ref-grpcjs", "server.js")],
        cwd: peersRoot,
      };
    case "ceiling":
      return {
        argv: [process.execPath, join(peersRoot, "ceiling-h2", "server.js")],
        cwd: peersRoot,
      };
  }
}

/** Replaces `{port}` and `{data-dir}` in every argument. */
export function fillIn(argv: readonly string[], port: number, dataDir: string): string[] {
  return argv.map((a) => a.replaceAll("{port}", String(port)).replaceAll("{data-dir}", dataDir));
}

/**
 * `base` with `extra` applied: `--flag value` or `--flag=value` replaces the value of the
 * same flag in `base`, anything else is appended in order.
 */
export function mergeOptions(base: readonly string[], extra: readonly string[]): string[] {
  const out = [...base];
  for (let i = 0; i < extra.length; i++) {
    const token = extra[i] as string;
    const eq = token.startsWith("--") ? token.indexOf("=") : -1;
    const flag = eq > 0 ? token.slice(0, eq) : token;
    const next = extra[i + 1];
    const hasValue = eq < 0 && next !== undefined && !next.startsWith("--");
    const value = eq > 0 ? token.slice(eq + 1) : hasValue ? next : undefined;
    if (hasValue) i++;
    const at = flag.startsWith("--") ? out.indexOf(flag) : -1;
    const baseHasValue = at >= 0 && !(out[at + 1] ?? "--").startsWith("--");
    if (at >= 0 && value !== undefined && baseHasValue) {
      out[at + 1] = value;
    } else if (value !== undefined) {
      out.push(flag, value);
    } else {
      out.push(flag);
    }
  }
  return out;
}
