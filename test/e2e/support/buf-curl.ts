import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const buf = fileURLToPath(new URL("../../../node_modules/.bin/buf", import.meta.url));
const repo = fileURLToPath(new URL("../../../", import.meta.url));

export interface BufCurlResult {
  stdout: string;
  stderr: string;
  /** The JSON documents printed on stdout (buf prints each response pretty, ending in "}"). */
  docs: unknown[];
  /** null when we stopped it after reading the documents we wanted. */
  exitCode: number | null;
}

export interface BufCurlOptions {
  /** Stop buf (SIGTERM) once this many documents arrived: server streams never end by themselves. */
  docs?: number;
  /** Hard limit; buf is killed and the call rejects after it. Default 15 s. */
  ms?: number;
}

/** Runs `buf curl ARGS...` in the repo root and collects what it printed. */
export function bufCurl(args: string[], options: BufCurlOptions = {}): Promise<BufCurlResult> {
  const { docs: wanted, ms = 15_000 } = options;
  // `.bin/buf` is a node wrapper around the native binary: signal the whole
  // process group, and let buf's own --timeout end it should we die first.
  const child = spawn(buf, ["curl", "--timeout", `${Math.ceil(ms / 1000) + 5}s`, ...args], {
    cwd: repo,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const kill = (signal: NodeJS.Signals) => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, signal);
    } catch {
      // Already gone.
    }
  };
  let stdout = "";
  let stderr = "";
  let docs: unknown[] = [];
  let stopped = false;
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    docs = parseDocuments(stdout);
    if (wanted !== undefined && docs.length >= wanted && !stopped) {
      stopped = true;
      kill("SIGTERM");
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      kill("SIGKILL");
      reject(new Error(`buf curl ${args.join(" ")} took over ${ms} ms\n${stdout}\n${stderr}`));
    }, ms);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, docs, exitCode: stopped ? null : code });
    });
  });
}

/** Splits buf's pretty-printed output into documents: each ends with a "}" line
 * (an empty message is the single line "{}"). */
function parseDocuments(text: string): unknown[] {
  const docs: unknown[] = [];
  let current: string[] = [];
  for (const line of text.split("\n")) {
    current.push(line);
    if (line === "}" || (line === "{}" && current.length === 1)) {
      docs.push(JSON.parse(current.join("\n")));
      current = [];
    }
  }
  return docs;
}
