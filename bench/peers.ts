/**
 * `npm run bench:peers`: the project's server side by side with two peers, a plain grpc-js
 * server (`ref`) and a raw node:http2 server (`ceiling`), under the same load generator and
 * scenarios (the shared bench-peers folder), in one run. Prints a table per scenario with
 * the project's ratios to each peer, writes bench/results/peers-latest.json (raw lines) and
 * bench/results/peers-latest.svg; `--publish` also copies the picture to docs/bench/peers.svg.
 * Options and scenarios are described in bench/README.md.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { stopChurnChildren } from "./peers/churn.ts";
import { measured } from "./peers/figures.ts";
import { defaultCacheDir, preparePeersDir } from "./peers/peers-dir.ts";
import {
  newResults,
  type PeersResults,
  readResults,
  serversIn,
  writeResults,
} from "./peers/results.ts";
import { runAll } from "./peers/run-all.ts";
import { runningScripts } from "./peers/run-sh.ts";
import { churn, defaultScenarios, extraScenarios, readRunShScenarios } from "./peers/scenarios.ts";
import { repoRoot, type ServerName, serverNames } from "./peers/servers.ts";
import { pictureOf } from "./peers/svg.ts";
import { churnTable, scenarioTable, summaryTable } from "./peers/tables.ts";

const usage = `usage: npm run bench:peers -- [options]
  --scenarios "a b c"     default: "${defaultScenarios.join(" ")}"
  --servers "a b c"       default: "${serverNames.join(" ")}"
  --quick                 shorter runs, 1 attempt, 2 churn rounds (a smoke test: the figures mean little)
  --attempts N            run.sh attempts per scenario; the least disturbed is kept (default 2)
  --rounds N              churn rounds (default 6)
  --project-args "..."    replace or add options of the project's server, e.g. "--store memory"
  --publish               also copy the SVG to docs/bench/peers.svg
  --from FILE             no run: tables and SVG from a results file (e.g. bench/results/peers-latest.json)
  --peers-dir DIR         the bench-peers folder (default ../shared/bench-peers)`;

// `--project-args "--store memory"`: parseArgs refuses a separate value that starts with "--".
const argv = process.argv.slice(2);
const at = argv.indexOf("--project-args");
if (at >= 0 && at + 1 < argv.length) argv.splice(at, 2, `--project-args=${argv[at + 1]}`);
const { values: flags } = parseArgs({
  args: argv,
  options: {
    scenarios: { type: "string" },
    servers: { type: "string" },
    quick: { type: "boolean", default: false },
    attempts: { type: "string" },
    rounds: { type: "string" },
    "project-args": { type: "string", default: "" },
    publish: { type: "boolean", default: false },
    from: { type: "string" },
    "peers-dir": { type: "string" },
    help: { type: "boolean", default: false },
  },
});
const quick = flags.quick === true;
const words = (s: string | undefined) => (s ?? "").split(/\s+/).filter((w) => w !== "");
const scenarios = flags.scenarios === undefined ? defaultScenarios : words(flags.scenarios);
const servers = flags.servers === undefined ? [...serverNames] : words(flags.servers);
const attempts = Number(flags.attempts ?? (quick ? 1 : 2));
const rounds = Number(flags.rounds ?? (quick ? 2 : 6));
const peersSource = resolve(flags["peers-dir"] ?? join(repoRoot, "..", "shared", "bench-peers"));
const resultsDir = join(repoRoot, "bench", "results");
const resultsPath = join(resultsDir, "peers-latest.json");
const logDir = join(resultsDir, "peers-logs");

function log(line: string): void {
  process.stderr.write(`bench:peers: ${line}\n`);
}

function checkOptions(): void {
  if (flags.help === true) {
    console.log(usage);
    process.exit(0);
  }
  const unknown = servers.filter((s) => !(serverNames as readonly string[]).includes(s));
  if (unknown.length > 0 || !(attempts >= 1) || !(rounds >= 1)) {
    console.error(`bad --servers, --attempts or --rounds\n${usage}`);
    process.exit(2);
  }
}

async function run(): Promise<PeersResults | undefined> {
  if (!existsSync(join(peersSource, "run.sh"))) {
    console.log(`bench:peers: ${peersSource} not found: no peers to compare with, nothing run.`);
    return undefined;
  }
  const peers = preparePeersDir(peersSource, defaultCacheDir(), log);
  const runShScenarios = readRunShScenarios(join(peers.root, "run.sh"));
  const known = [...runShScenarios.keys(), ...Object.keys(extraScenarios), churn];
  const unknown = scenarios.filter((s) => !known.includes(s));
  if (unknown.length > 0) {
    throw new Error(`unknown scenario ${unknown.join(", ")} (known: ${known.join(" ")})`);
  }
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const results = newResults(flags);
  const names = servers as ServerName[];
  const progress = (scenario: string, definition: string) => {
    if (scenario === churn) {
      console.log(
        `\n### churn: ${rounds} rounds of: ${definition}\n\n${churnTable(results.churns)}`,
      );
    } else {
      const lines = results.byScenario.get(scenario) ?? new Map();
      console.log(`\n### ${scenario}: ${definition}\n\n${scenarioTable(lines, names)}`);
    }
    writeResults(resultsPath, results); // an interrupted run keeps what it measured
  };
  const projectArgs = words(flags["project-args"]);
  const common = { peers, runShScenarios, scenarios, servers: names, quick, attempts, rounds };
  const dataParent = mkdtempSync(join(os.tmpdir(), "connect-chat-peers-data-"));
  removeOnExit.add(dataParent);
  try {
    await runAll({ ...common, projectArgs, dataParent, logDir, log, progress }, results);
  } finally {
    rmSync(dataParent, { recursive: true, force: true });
  }
  return results;
}

async function main(): Promise<void> {
  checkOptions();
  const started = Date.now();
  const results = flags.from === undefined ? await run() : readResults(flags.from);
  if (results === undefined) return;
  const names = serversIn(results);
  if (flags.from !== undefined) {
    for (const [scenario, lines] of results.byScenario) {
      console.log(`\n### ${scenario}\n\n${scenarioTable(lines, names)}`);
    }
    if (results.churns.length > 0) console.log(`\n### churn\n\n${churnTable(results.churns)}`);
  }
  if (results.byScenario.size > 0) {
    console.log(`\n### summary\n\n${summaryTable(results.byScenario, names)}`);
  }
  mkdirSync(resultsDir, { recursive: true });
  if (flags.from === undefined) writeResults(resultsPath, results);
  const svgPath = join(resultsDir, "peers-latest.svg");
  writeFileSync(svgPath, pictureOf(results, names));
  if (flags.publish === true) {
    mkdirSync(join(repoRoot, "docs", "bench"), { recursive: true });
    copyFileSync(svgPath, join(repoRoot, "docs", "bench", "peers.svg"));
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  console.log(
    `\nwritten: ${flags.from === undefined ? `${resultsPath}, ` : ""}${svgPath} (${minutes} min)`,
  );
  if (flags.from === undefined) console.log(`server logs: ${logDir}`);
  const failed = [...results.byScenario.values()]
    .flatMap((m) => [...m.values()])
    .filter((l) => !measured(l));
  if (failed.length > 0) throw new Error(`not measured: ${failed.map((l) => l.label).join(", ")}`);
}

const removeOnExit = new Set<string>();
const interrupt = () => {
  for (const child of runningScripts) child.kill("SIGTERM"); // run.sh stops its server
  stopChurnChildren();
  setTimeout(() => {
    for (const dir of removeOnExit) rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  }, 1000);
};
process.once("SIGINT", interrupt);
process.once("SIGTERM", interrupt);

main().catch((e: unknown) => {
  console.error("bench:peers FAILED:", e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
