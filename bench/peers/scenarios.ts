/**
 * The scenario set of `npm run bench:peers`. Most are run.sh's own (their load generator
 * arguments are read from run.sh, so the two never drift); two are added with run.sh's `-S`,
 * and `churn` is run by this harness because it needs one server across rounds.
 */
import { readFileSync } from "node:fs";

/** Rounds of load against one server, sampling its RSS after each (issue 13). */
export const churn = "churn";

/** Load generator arguments of one churn round (`--target` and `--server-pid` are added). */
export const churnRoundArgs = [
  "--subscribers",
  "1000",
  "--connections",
  "50",
  "--rate",
  "20",
  "--duration",
  "3",
  "--workers",
  "2",
];

/** Scenarios run.sh does not define, passed to it with `-S name=args`. */
export const extraScenarios: Readonly<Record<string, string>> = {
  // 10,000 idle streams over 100 HTTP/2 connections: RSS per stream and idle CPU.
  // Opening 10k streams and replaying the probe to each takes a Connect server several
  // seconds: run.sh's 8 s readiness limit is raised for it.
  "idle-10k": "--idle --subscribers 10000 --connections 100 --duration 10 --ready-timeout 30",
  // 100 notes/s of 512 bytes to 2,000 subscribers (200k deliveries/s): several times what
  // any of the servers delivers on this machine, so this is about how each one degrades.
  overload:
    "--subscribers 2000 --connections 100 --rate 100 --payload 512 --duration 10 --workers 2 --ready-timeout 30",
};

export const defaultScenarios = [
  "idle-1000",
  "fanout-100",
  "fanout-1000",
  "burst-10",
  "burst-100",
  "idle-10k",
  "overload",
  churn,
];

/**
 * run.sh's scenario table (`[name]="loadgen args"` lines of its `declare -A SC=(...)`).
 */
export function readRunShScenarios(runSh: string): Map<string, string> {
  const text = readFileSync(runSh, "utf8");
  const block = /declare -A SC=\(\n([\s\S]*?)\n\)/.exec(text)?.[1] ?? "";
  const scenarios = new Map<string, string>();
  for (const m of block.matchAll(/^\s*\[([\w-]+)\]="([^"]*)"/gm)) {
    scenarios.set(m[1] as string, m[2] as string);
  }
  return scenarios;
}

/**
 * The same load, shorter, for a smoke run. The load generator keeps the last value of a
 * repeated option, so appending overrides run.sh's durations without copying its table.
 */
export function quickArgs(args: string): string {
  if (/--idle\b/.test(args)) return `${args} --duration 3 --settle 1 --base-settle 1`;
  if (/--burst\b/.test(args)) return `${args} --duration 2 --warmup 1 --drain 3`;
  return `${args} --duration 3 --warmup 1 --drain 3`;
}
