import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";

/** `src/main.ts` started as a user starts it, under this Node. */
export interface CliServer {
  child: ChildProcess;
  url: string;
  /** Every JSON log line so far. */
  log: Array<{ level: number; msg: string }>;
  /** Kills the process with `signal` and waits for it to exit. */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Spawns the entry point and resolves once it logs that it listens. */
export function startCliServer(args: string[]): Promise<CliServer> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = once(child, "exit");
  const kill = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void kill("SIGKILL");
      reject(new Error("server did not start within 20 s"));
    }, 20_000);
    const log: Array<{ level: number; msg: string }> = [];
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      const entry = JSON.parse(line) as { level: number; msg: string; url?: string };
      log.push(entry);
      if (entry.msg === "chat server listening" && entry.url) {
        clearTimeout(timer);
        resolve({ child, url: entry.url, log, kill });
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`server exited early with ${code}`));
    });
  });
}
