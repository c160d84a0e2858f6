/**
 * One scenario against one server through bench-peers' run.sh, which starts a fresh server,
 * runs the load generator with the server's pid, retries a run disturbed by other processes
 * (keeping the least disturbed attempt) and stops the server by process group.
 */
import { spawn } from "node:child_process";
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import { join } from "node:path";
import { freePort } from "../../test/support/ports.ts";
import type { LoadgenLine } from "./figures.ts";
import type { PeersDir } from "./peers-dir.ts";
import type { ServerCommand, ServerName } from "./servers.ts";

export interface RunShOptions {
  peers: PeersDir;
  server: ServerName;
  command: ServerCommand;
  scenario: string;
  /** Load generator arguments that replace run.sh's definition of the scenario (`-S`). */
  definition: string | undefined;
  attempts: number;
  /** Parent of the fresh data dirs, one per server start. */
  dataParent: string;
  /** The server's log is copied here as `<server>-<scenario>.log`. */
  logDir: string;
  log: (line: string) => void;
}

/** Children to stop on Ctrl-C (run.sh then stops its server itself). */
export const runningScripts = new Set<ReturnType<typeof spawn>>();

export async function runWithRunSh(o: RunShOptions): Promise<LoadgenLine> {
  const out = mkdtempSync(join(os.tmpdir(), "connect-chat-peers-run-"));
  try {
    const port = await freePort();
    const args = [
      join(o.peers.root, "run.sh"),
      ...[
        "-n",
        o.server,
        "-p",
        String(port),
        "-o",
        out,
        "-a",
        String(o.attempts),
        "-s",
        o.scenario,
      ],
      ...(o.definition === undefined ? [] : ["-S", `${o.scenario}=${o.definition}`]),
      "--",
      ...shellWrapped(o.command, o.dataParent),
    ];
    const code = await runScript(args, o.peers.root, (line) => o.log(`  ${o.server}: ${line}`));
    const files = readdirSync(out);
    const results = files.find((f) => f.endsWith(".jsonl"));
    for (const f of files.filter((f) => f.endsWith(".log"))) {
      copyFileSync(join(out, f), join(o.logDir, `${o.server}-${o.scenario}.log`));
    }
    const line = results === undefined ? undefined : lastJson(join(out, results));
    if (line === undefined) {
      return { label: `${o.server}:${o.scenario}`, error: `run.sh exited with ${code}, no result` };
    }
    line.label ??= `${o.server}:${o.scenario}`; // a load generator that crashed prints none
    const attempts = files.find((f) => f.endsWith(".jsonl.attempts"));
    if (attempts !== undefined) line.attempts = jsonLines(join(out, attempts)).length;
    return line;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/**
 * run.sh runs the command as given, from its own folder. The project's server needs its
 * checkout as working directory (tsx resolves from there) and a fresh data dir per start,
 * so it is started through a small bash wrapper that `exec`s it (same pid, same tree).
 */
function shellWrapped(command: ServerCommand, dataParent: string): string[] {
  const script =
    'cd "$1" && d="$(mktemp -d -p "$2")" && shift 2 && ' +
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansions
    'args=() && for a in "$@"; do args+=("${a//\\{data-dir\\}/$d}"); done && exec "${args[@]}"';
  return ["bash", "-c", script, "server", command.cwd, dataParent, ...command.argv];
}

function runScript(args: string[], cwd: string, onLine: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    // stdout is run.sh's own table of this one run: the harness prints its own.
    const child = spawn("bash", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
    runningScripts.add(child);
    let buffered = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      const lines = (buffered + chunk).split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) if (line.trim() !== "") onLine(line);
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      runningScripts.delete(child);
      resolve(code ?? (signal === null ? 1 : 128));
    });
  });
}

function jsonLines(path: string): LoadgenLine[] {
  const out: LoadgenLine[] = [];
  for (const text of readFileSync(path, "utf8").split("\n")) {
    if (text.trim() === "") continue;
    try {
      out.push(JSON.parse(text) as LoadgenLine);
    } catch {
      // not a result line
    }
  }
  return out;
}

function lastJson(path: string): LoadgenLine | undefined {
  return jsonLines(path).at(-1);
}
