import { type ChildProcessWithoutNullStreams, execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { collectLines, type LineLog } from "./lines.ts";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const clientScript = join(repo, "test/seed-client/seed_client.py");
const python = "/usr/bin/python3";

/** Python modules generated from the seed's proto, and how to remove them. */
export interface SeedStubs {
  dir: string;
  remove(): Promise<void>;
}

/**
 * Generates `chat_pb2.py` and `chat_pb2_grpc.py` into a temp dir, from the
 * path `chat.proto` as the seed does (a `grpc/chat_pb2` module would shadow
 * the `grpc` package the client imports).
 */
export async function generateSeedStubs(): Promise<SeedStubs> {
  const dir = await mkdtemp(join(tmpdir(), "seed-stubs-"));
  await promisify(execFile)(
    "protoc",
    [
      "-I",
      "proto/grpc",
      `--python_out=${dir}`,
      `--grpc_python_out=${dir}`,
      "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
      "proto/grpc/chat.proto",
    ],
    { cwd: repo, timeout: 20_000 },
  );
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** A running `seed_client.py NAME`. */
export interface SeedClient {
  readonly name: string;
  /** Notes received, as `[name] message` (the `R` prefix stripped). */
  received(): string[];
  stdout: LineLog;
  stderr: LineLog;
  /** Sends one note, as typing a line into the seed's entry box. */
  send(message: string): void;
  waitForReceived(count: number, ms?: number): Promise<string[]>;
  /** Ends stdin and waits for exit; kills it if it takes longer than 3 s. */
  close(): Promise<void>;
}

/** Starts the Python seed client against the seed's own address, localhost:`port`. */
export function startSeedClient(stubs: SeedStubs, port: number, name: string): SeedClient {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    PYTHONPATH: stubs.dir,
    PYTHONDONTWRITEBYTECODE: "1",
    CHAT_PORT: String(port),
    CHAT_DRAIN_SECONDS: "0.2",
    // gRPC Python honours proxy variables; the server is local.
    no_proxy: "*",
  };
  // `timeout` is a last resort so that nothing outlives a stuck test run.
  const child: ChildProcessWithoutNullStreams = spawn(python, ["-u", clientScript, name], {
    env,
    timeout: 60_000,
  });
  const stdout = collectLines(child.stdout);
  const stderr = collectLines(child.stderr);
  const exited = once(child, "exit");
  const received = () => stdout.lines.filter((l) => l.startsWith("R[")).map((l) => l.slice(1));
  return {
    name,
    received,
    stdout,
    stderr,
    send(message) {
      child.stdin.write(`${message}\n`);
    },
    async waitForReceived(count, ms = 5000) {
      await stdout.waitFor(
        () => received().length >= count,
        ms,
        `${name} to receive ${count} notes (stderr: ${stderr.lines.join(" | ")})`,
      );
      return received();
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      try {
        await exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
