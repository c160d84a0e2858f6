/**
 * `churn`: one server, several rounds of 1,000 subscribers that come, receive for a few
 * seconds and go. Each round's clients disconnect while the server may still be writing to
 * them, which is what leaked memory in issue 13; the server's RSS after each round (and
 * whether it is still alive, under a 256 MB V8 heap limit) shows whether anything stays.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, waitForPort } from "../../test/support/ports.ts";
import type { LoadgenLine } from "./figures.ts";
import type { PeersDir } from "./peers-dir.ts";
import { treeRssKb } from "./proc-tree.ts";
import { churnRoundArgs } from "./scenarios.ts";
import { fillIn, type ServerCommand, type ServerName } from "./servers.ts";

/** The V8 heap limit every server gets in this scenario: the leak shows as a crash, not swap. */
export const churnNodeOptions = "--max-old-space-size=256";
const pauseAfterRoundMs = 2000;

export interface ChurnRound {
  round: number;
  /** RSS of the server's process tree 2 s after the round; null once it has died. */
  rss_kb: number | null;
  alive: boolean;
  /** The round's load generator line (deliveries, latency, errors). */
  load: LoadgenLine;
}

export interface ChurnResult {
  label: string;
  server: ServerName;
  node_options: string;
  start_rss_kb: number;
  rounds: ChurnRound[];
  /** The first round after which the server was no longer running, or null. */
  died_in_round: number | null;
  /** How it ended if it died: exit code or signal. */
  exit: string | null;
  /** The last lines of its output (e.g. V8's "heap out of memory"). */
  log_tail: string[];
  error?: string;
}

export interface ChurnOptions {
  peers: PeersDir;
  server: ServerName;
  command: ServerCommand;
  rounds: number;
  dataParent: string;
  logDir: string;
  log: (line: string) => void;
}

/** Servers and load generators of a churn run in progress, for Ctrl-C. */
const running = new Set<ChildProcess>();

export function stopChurnChildren(): void {
  for (const child of running) killGroup(child, "SIGKILL");
}

export async function runChurn(o: ChurnOptions): Promise<ChurnResult> {
  const port = await freePort();
  const logPath = join(o.logDir, `${o.server}-churn.log`);
  const logFd = openSync(logPath, "w");
  const argv = fillIn(o.command.argv, port, mkdtempSync(join(o.dataParent, "churn-")));
  const child = spawn(argv[0] as string, argv.slice(1), {
    cwd: o.command.cwd,
    env: {
      ...process.env,
      NODE_OPTIONS: churnNodeOptions,
      PORT: String(port),
      BIND_HOST: "127.0.0.1",
    },
    stdio: ["ignore", logFd, logFd],
    detached: true, // its own process group, like run.sh's setsid
  });
  closeSync(logFd);
  running.add(child);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const result: ChurnResult = {
    label: `${o.server}:churn`,
    server: o.server,
    node_options: churnNodeOptions,
    start_rss_kb: 0,
    rounds: [],
    died_in_round: null,
    exit: null,
    log_tail: [],
  };
  const pid = child.pid as number;
  const isAlive = () => child.exitCode === null && child.signalCode === null;
  try {
    await waitForPort(port, exited, []);
    await sleep(pauseAfterRoundMs);
    result.start_rss_kb = treeRssKb(pid);
    for (let round = 1; round <= o.rounds; round++) {
      const load = await loadRound(o.peers, port, pid, `${o.server}:churn-${round}`);
      await sleep(pauseAfterRoundMs);
      const alive = isAlive();
      const rss_kb = alive ? treeRssKb(pid) : null;
      result.rounds.push({ round, rss_kb, alive, load });
      const mb = rss_kb === null ? "-" : (rss_kb / 1024).toFixed(0);
      o.log(`  ${o.server}: churn round ${round}: RSS ${mb} MB, lost ${load.lost ?? "?"}`);
      if (!alive) {
        result.died_in_round = round;
        result.exit = `${child.exitCode ?? child.signalCode}`;
        break;
      }
    }
  } catch (e) {
    result.error = String(e instanceof Error ? e.message : e);
  } finally {
    await stop(child, exited);
    running.delete(child);
    result.log_tail = readFileSync(logPath, "utf8").trimEnd().split("\n").slice(-5);
  }
  return result;
}

/** One round of the load generator; its JSON line, or an error line if it produced none. */
async function loadRound(
  peers: PeersDir,
  port: number,
  serverPid: number,
  label: string,
): Promise<LoadgenLine> {
  const args = [
    peers.loadgen,
    ...["--target", `127.0.0.1:${port}`, "--server-pid", String(serverPid), "--label", label],
    ...churnRoundArgs,
  ];
  const loadgen = spawn(peers.tsx, args, { cwd: peers.root, stdio: ["ignore", "pipe", "ignore"] });
  running.add(loadgen);
  let stdout = "";
  loadgen.stdout.setEncoding("utf8");
  loadgen.stdout.on("data", (chunk: string) => {
    stdout += chunk;
  });
  const killer = setTimeout(() => loadgen.kill("SIGKILL"), 150_000);
  await new Promise<void>((resolve) => loadgen.once("close", () => resolve()));
  clearTimeout(killer);
  running.delete(loadgen);
  const last = stdout.trimEnd().split("\n").at(-1) ?? "";
  try {
    return { ...(JSON.parse(last) as LoadgenLine), label };
  } catch {
    return { label, error: "load generator produced no output" };
  }
}

/** SIGTERM to the server's process group, SIGKILL after 5 s. */
async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  killGroup(child, "SIGTERM");
  const timeout = sleep(5000, "timeout", { ref: false });
  if ((await Promise.race([exited, timeout])) === "timeout") {
    killGroup(child, "SIGKILL");
    await exited;
  }
}

/** The child's process group if it leads one (the servers), else the child itself. */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), signal);
  } catch {
    child.kill(signal);
  }
}
