/**
 * The runtime matrix: for each runtime (Node 20, Node LTS, Bun, Deno) runs
 * the native unit and contract suites with that runtime's own test runner,
 * then the end-to-end suite against `src/main.ts` started on that runtime
 * (test/runtimes/matrix-files.ts says which files and why). Prints the
 * runtime × protocol × HTTP version table built from the JUnit results,
 * writes it to test-results/runtimes/matrix.md (and docs/runtime-matrix.md
 * with --update-docs), and exits 1 if anything failed on any runtime.
 *
 * Usage: npm run test:runtimes [-- [--update-docs] [node|node-lts|bun|deno ...]]
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  nodeLtsBinary,
  nodeLtsPackage,
  repoRoot,
  runtimeBinary,
  runtimeVersion,
  type TestRuntime,
  testRuntimes,
} from "../support/runtimes.ts";
import { parseJunit } from "./junit.ts";
import { e2eFiles, e2eNotInMatrix, nativeFiles, nativeNotInMatrix } from "./matrix-files.ts";
import {
  type RuntimeResults,
  renderFailures,
  renderTable,
  type Source,
  type SourcedResult,
} from "./matrix-table.ts";

const args = process.argv.slice(2);
const updateDocs = args.includes("--update-docs");
const named = args.filter((a) => !a.startsWith("--"));
for (const name of named) {
  if (!(testRuntimes as readonly string[]).includes(name)) {
    throw new Error(`unknown runtime ${name}; choose from ${testRuntimes.join(", ")}`);
  }
}
const runtimes = (named.length > 0 ? named : testRuntimes) as TestRuntime[];
const packageJson = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  scripts: Record<string, string>;
};
if (!packageJson.scripts["start:node-lts"]?.includes(nodeLtsPackage)) {
  throw new Error(`package.json's start:node-lts must run ${nodeLtsPackage}, as the matrix tests`);
}
const outDir = join(repoRoot, "test-results", "runtimes");
mkdirSync(outDir, { recursive: true });

const nodeReporters = (xml: string) => [
  "--test-concurrency=1",
  "--test-reporter=spec",
  "--test-reporter-destination=stdout",
  "--test-reporter=junit",
  `--test-reporter-destination=${xml}`,
];

/** The runtime's own test runner on the native suites, writing JUnit to `xml`. */
function nativeCommand(runtime: TestRuntime, xml: string): [string, string[]] {
  const files = nativeFiles.map((f) => `./${f}`);
  switch (runtime) {
    case "node":
      return [process.execPath, ["--import", "tsx", "--test", ...nodeReporters(xml), ...files]];
    case "node-lts":
      // Node >= 22.18 strips types itself: the source loads with no loader at all.
      return [nodeLtsBinary(), ["--test", ...nodeReporters(xml), ...files]];
    case "bun":
      // bun test stops a test after 5 s by default (node --test and deno test
      // have no such limit); starting a Redis Cluster inside the first test
      // that needs it takes longer than that on a loaded 2-core machine.
      return [
        runtimeBinary("bun"),
        ["test", "--timeout=60000", "--reporter=junit", `--reporter-outfile=${xml}`, ...files],
      ];
    case "deno":
      return [
        runtimeBinary("deno"),
        ["task", "--quiet", "test:native", `--junit-path=${xml}`, ...files],
      ];
  }
}

/**
 * How long one suite run (one runtime's native or end-to-end suites) may
 * take. A run takes 1 to 6 minutes on these 2-core machines; one that has
 * not ended after this hangs (a test left a child process holding its
 * process open once, and CI ran into its 90-minute limit with nothing
 * said). It is killed and counted as failed, and the matrix goes on.
 * CHAT_MATRIX_RUN_MINUTES sets another limit.
 */
const runDeadlineMs = Number(process.env.CHAT_MATRIX_RUN_MINUTES ?? 20) * 60_000;

/** Runs a command in the repository root with the output passed through; resolves true on exit 0. */
async function run(command: string, argv: string[], env: NodeJS.ProcessEnv = {}): Promise<boolean> {
  const child = spawn(command, argv, {
    cwd: repoRoot,
    stdio: "inherit",
    env: { ...process.env, ...env },
  });
  // The runs' own servers are in process groups of their own: Ctrl-C must reach them too.
  const stop = () => {
    killTree(child);
    process.exit(130);
  };
  process.once("SIGINT", stop).once("SIGTERM", stop);
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    process.stdout.write(
      `\nmatrix: ${argv.join(" ").slice(0, 120)}... still running after ${runDeadlineMs / 60_000} minutes: killed\n`,
    );
    killTree(child);
  }, runDeadlineMs);
  const [code] = (await once(child, "exit")) as [number | null];
  clearTimeout(deadline);
  process.off("SIGINT", stop).off("SIGTERM", stop);
  return code === 0 && !timedOut;
}

/**
 * Kills the run and every process below it, also those in groups of their
 * own (the servers the suites start are), which killing its group misses.
 */
function killTree(child: ChildProcess): void {
  const children = new Map<number, number[]>();
  const ps = spawnSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" });
  for (const line of ps.stdout?.split("\n") ?? []) {
    const [pid, ppid] = line.trim().split(/\s+/).map(Number);
    if (pid && ppid) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
  }
  const all: number[] = [];
  const visit = (pid: number): void => {
    all.push(pid);
    for (const c of children.get(pid) ?? []) visit(c);
  };
  visit(child.pid as number);
  for (const pid of all) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Gone already.
    }
  }
}

function readResults(xml: string, source: Source, ok: boolean): SourcedResult[] {
  if (!existsSync(xml)) {
    return [{ source, path: [`${source} run`], failed: true, message: "wrote no results" }];
  }
  const results = parseJunit(readFileSync(xml, "utf8")).map((r) => ({ ...r, source }));
  if (!ok && !results.some((r) => r.failed)) {
    results.push({ source, path: [`${source} run`], failed: true, message: "exited non-zero" });
  }
  return results;
}

function label(runtime: TestRuntime): string {
  const [name = "", version = ""] = runtimeVersion(runtime).split(" ");
  const title = `${name.charAt(0).toUpperCase()}${name.slice(1)} ${version}`;
  return runtime === "node-lts" ? `${title} (LTS)` : title;
}

const timings: string[] = [];
if (runtimes.includes("node-lts")) {
  const started = performance.now();
  const path = nodeLtsBinary();
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  timings.push(`- Node LTS: ${nodeLtsPackage} resolved to ${path} in ${seconds} s`);
}

const columns: RuntimeResults[] = [];
for (const runtime of runtimes) {
  const title = label(runtime);
  const started = performance.now();
  const nativeXml = join(outDir, `${runtime}-native.xml`);
  const e2eXml = join(outDir, `${runtime}-e2e.xml`);
  rmSync(nativeXml, { force: true });
  rmSync(e2eXml, { force: true });

  process.stdout.write(`\n=== ${title}: native suites (${nativeFiles.length} files)\n`);
  const nativeOk = await run(...nativeCommand(runtime, nativeXml));
  const nativeSeconds = (performance.now() - started) / 1000;

  process.stdout.write(`\n=== ${title}: end-to-end against the server on ${runtime}\n`);
  const e2eOk = await run(
    process.execPath,
    ["--import", "tsx", "--test", ...nodeReporters(e2eXml), ...e2eFiles],
    { CHAT_TEST_RUNTIME: runtime },
  );
  const seconds = (performance.now() - started) / 1000;
  timings.push(
    `- ${title}: ${seconds.toFixed(0)} s (native ${nativeSeconds.toFixed(0)} s, e2e ${(seconds - nativeSeconds).toFixed(0)} s)`,
  );
  columns.push({
    label: title,
    seconds,
    ok: nativeOk && e2eOk,
    results: [...readResults(nativeXml, "native", nativeOk), ...readResults(e2eXml, "e2e", e2eOk)],
  });
}

const table = renderTable(columns);
const failures = renderFailures(columns);
const notRun = Object.entries({ ...e2eNotInMatrix, ...nativeNotInMatrix })
  .map(([file, why]) => `- \`${file}\`: ${why}`)
  .join("\n");
const explanation = [
  "Each cell counts the tests of that row that passed on that runtime (✅ all passed).",
  "End-to-end rows: clients on Node 20 (connect-node, @grpc/grpc-js, buf curl, the seed's",
  "Python client) against `src/main.ts` running on the runtime of the column. Native rows:",
  "the runtime's own test runner (`node --test`, `bun test`, `deno test`), in-process.",
  "gRPC needs HTTP/2: over HTTP/1.1 only gRPC-Web and Connect are served.",
].join("\n");
const body = [
  table,
  "",
  explanation,
  "",
  "Run by the matrix:",
  "",
  ...[...nativeFiles.map((f) => `- native: \`${f}\``), ...e2eFiles.map((f) => `- e2e: \`${f}\``)],
  "",
  "Left to `npm test` (Node 20, server in-process):",
  "",
  notRun,
].join("\n");
const summary = [
  body,
  "",
  "Timings:",
  "",
  ...timings,
  ...(failures ? ["", "Failures:", "", failures] : []),
].join("\n");
writeFileSync(join(outDir, "matrix.md"), `${summary}\n`);
process.stdout.write(`\n${summary}\n`);
if (updateDocs) {
  const header = [
    "# Runtime matrix",
    "",
    "Generated by `npm run test:runtimes -- --update-docs` (test/runtimes/run-matrix.ts) from",
    "the JUnit results of the run; do not edit by hand. How to start the server on each",
    "runtime: [runtimes.md](runtimes.md).",
    "",
    "",
  ].join("\n");
  writeFileSync(join(repoRoot, "docs", "runtime-matrix.md"), `${header}${body}\n`);
}
process.exitCode = columns.every((c) => c.ok) ? 0 : 1;
