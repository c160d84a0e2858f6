/**
 * The results of a peers run and their file: JSON lines, first a `peers_bench` line (date,
 * machine, options), then the load generator's line per server and scenario as it printed
 * it (bench-peers' `load/table.ts` reads them too), then one line per churn run.
 */
import { readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import type { ChurnResult } from "./churn.ts";
import { type LoadgenLine, scenarioOf, serverOf } from "./figures.ts";
import { type ServerName, serverNames } from "./servers.ts";

export interface RunInfo {
  date: string;
  machine: { cpuModel: string; cpuCount: number; node: string };
  options: Record<string, unknown>;
}

export interface PeersResults {
  info: RunInfo;
  /** Scenario → server → line, in the order the scenarios ran and the servers were listed. */
  byScenario: Map<string, Map<ServerName, LoadgenLine>>;
  churns: ChurnResult[];
}

export function newResults(options: Record<string, unknown>): PeersResults {
  const cpus = os.cpus();
  const machine = {
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cpuCount: cpus.length,
    node: process.version,
  };
  const info = { date: new Date().toISOString(), machine, options };
  return { info, byScenario: new Map(), churns: [] };
}

export function writeResults(path: string, results: PeersResults): void {
  const lines = [
    { peers_bench: results.info },
    ...[...results.byScenario.values()].flatMap((m) => [...m.values()]),
    ...results.churns,
  ];
  writeFileSync(path, lines.map((l) => `${JSON.stringify(l)}\n`).join(""));
}

export function readResults(path: string): PeersResults {
  const results: PeersResults = {
    info: { date: "", machine: { cpuModel: "?", cpuCount: 0, node: "?" }, options: {} },
    byScenario: new Map(),
    churns: [],
  };
  for (const text of readFileSync(path, "utf8").split("\n")) {
    if (text.trim() === "") continue;
    const line = JSON.parse(text) as Record<string, unknown>;
    if ("peers_bench" in line) {
      results.info = line.peers_bench as RunInfo;
    } else if ("rounds" in line) {
      results.churns.push(line as unknown as ChurnResult);
    } else {
      const l = line as unknown as LoadgenLine;
      const server = serverOf(l) as ServerName;
      if (!serverNames.includes(server)) continue;
      const scenario = scenarioOf(l);
      const m = results.byScenario.get(scenario) ?? new Map<ServerName, LoadgenLine>();
      results.byScenario.set(scenario, m.set(server, l));
    }
  }
  return results;
}

/** The servers that appear in `results`, in the usual order. */
export function serversIn(results: PeersResults): ServerName[] {
  const seen = new Set<ServerName>(results.churns.map((c) => c.server));
  for (const m of results.byScenario.values()) for (const s of m.keys()) seen.add(s);
  return serverNames.filter((s) => seen.has(s));
}
