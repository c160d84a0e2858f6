/**
 * Markdown tables of a peers run: one per scenario (absolute figures per server and the
 * project's ratios to each peer), the churn rounds, and a summary of the key ratios.
 */
import { table } from "../report.ts";
import type { ChurnResult } from "./churn.ts";
import {
  ackedPct,
  countsText,
  cpuPerDeliveryUs,
  type LoadgenLine,
  measured,
  problems,
  sumOf,
} from "./figures.ts";
import type { ServerName } from "./servers.ts";

type Cell = number | string | undefined;

interface Row {
  name: string;
  value: (line: LoadgenLine) => Cell;
  /** Whether project/peer ratios are shown for this row. */
  ratio?: boolean;
}

const mb = (kb: number | undefined) => (kb === undefined ? undefined : kb / 1024);

const notes = (l: LoadgenLine) =>
  [problems(l), l.attempts && l.attempts > 1 ? `least disturbed of ${l.attempts}` : ""]
    .filter((n) => n !== "")
    .join("; ");

const common: Row[] = [
  { name: "stream errors", value: (l) => countsText(l.stream_errors) || 0 },
  { name: "other processes CPU %", value: (l) => l.host?.other_cpu_pct ?? undefined },
  { name: "notes", value: notes },
];

const idleRows: Row[] = [
  { name: "streams (conns)", value: (l) => `${l.subscribers} (${l.connections})` },
  { name: "ready", value: (l) => `${l.ready_subs ?? "-"}/${l.subscribers}` },
  { name: "server CPU %", value: (l) => l.server?.cpu_pct, ratio: true },
  { name: "RSS before → with streams MB", value: (l) => rssBeforeAfter(l) },
  {
    name: "RSS per stream KB",
    value: (l) => l.server?.rss_per_stream_kb ?? undefined,
    ratio: true,
  },
  { name: "server threads", value: (l) => l.server?.threads },
  ...common,
];

const trafficRows: Row[] = [
  { name: "subscribers (conns)", value: (l) => `${l.subscribers} (${l.connections})` },
  { name: "ready", value: (l) => `${l.ready_subs ?? "-"}/${l.subscribers}` },
  { name: "deliveries/s", value: (l) => l.deliveries_per_s, ratio: true },
  { name: "p50 latency ms", value: (l) => l.latency_ms?.p50, ratio: true },
  { name: "p99 latency ms", value: (l) => l.latency_ms?.p99, ratio: true },
  { name: "server CPU %", value: (l) => l.server?.cpu_pct, ratio: true },
  { name: "server CPU µs/delivery", value: cpuPerDeliveryUs, ratio: true },
  { name: "server RSS max MB", value: (l) => mb(l.server?.rss_kb_max), ratio: true },
  { name: "sends acked in deadline %", value: ackedPct, ratio: true },
  { name: "sends failed", value: (l) => l.sends_failed, ratio: true },
  { name: "lost", value: (l) => l.lost, ratio: true },
  { name: "duplicated", value: (l) => l.duplicated, ratio: true },
  { name: "out of order", value: (l) => l.out_of_order, ratio: true },
  { name: "load generator CPU %", value: (l) => l.loadgen_cpu_pct },
  ...common,
];

/** Three significant figures or so; "-" for no value. */
export function fmt(x: Cell): string {
  if (x === undefined) return "-";
  if (typeof x === "string") return x === "" ? "-" : x;
  if (!Number.isFinite(x)) return "-";
  const a = Math.abs(x);
  return a >= 100 || Number.isInteger(x) ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/** project / peer; "-" when either is missing or the peer's figure is 0. */
function ratio(a: Cell, b: Cell): string {
  if (typeof a !== "number" || typeof b !== "number" || b === 0) return "-";
  const r = a / b;
  return r >= 10 ? r.toFixed(1) : r.toFixed(2);
}

function rssBeforeAfter(l: LoadgenLine): string | undefined {
  const s = l.server;
  if (s?.rss_kb_base === undefined || s.rss_kb === undefined) return undefined;
  return `${fmt(mb(s.rss_kb_base))} → ${fmt(mb(s.rss_kb))}`;
}

/** Servers that have a line, in the order given; ratio columns for each peer next to project. */
function columns(lines: ReadonlyMap<ServerName, LoadgenLine>, servers: readonly ServerName[]) {
  const present = servers.filter((s) => lines.has(s));
  const peers = lines.has("project") ? present.filter((s) => s !== "project") : [];
  return { present, peers };
}

export function scenarioTable(
  lines: ReadonlyMap<ServerName, LoadgenLine>,
  servers: readonly ServerName[],
): string {
  const { present, peers } = columns(lines, servers);
  const idle = [...lines.values()].some((l) => l.mode === "idle");
  const rows = idle ? idleRows : trafficRows;
  const header = ["", ...present, ...peers.map((p) => `project/${p}`)];
  const body = rows.map((row) => {
    const cells = present.map((s) => {
      const line = lines.get(s) as LoadgenLine;
      return measured(line) || row.name === "notes" ? row.value(line) : undefined;
    });
    const project = lines.get("project");
    const ratios = peers.map((p) => {
      const peer = lines.get(p) as LoadgenLine;
      if (!row.ratio || project === undefined || !measured(project) || !measured(peer)) return "";
      return ratio(row.value(project), row.value(peer));
    });
    return [row.name, ...cells.map(fmt), ...ratios];
  });
  return table(header, body, 1);
}

/** RSS of each server after each round; the server's fate in the last row. */
export function churnTable(results: readonly ChurnResult[]): string {
  const project = results.find((r) => r.server === "project");
  const peers = project === undefined ? [] : results.filter((r) => r !== project);
  const header = [
    "RSS MB",
    ...results.map((r) => r.server),
    ...peers.map((p) => `project/${p.server}`),
  ];
  const rounds = Math.max(0, ...results.map((r) => r.rounds.length));
  const rssAt = (r: ChurnResult, i: number): number | undefined => {
    if (i === 0) return r.start_rss_kb > 0 ? r.start_rss_kb / 1024 : undefined;
    const kb = r.rounds[i - 1]?.rss_kb;
    return kb === null || kb === undefined ? undefined : kb / 1024;
  };
  const body: string[][] = [];
  for (let i = 0; i <= rounds; i++) {
    const values = results.map((r) => rssAt(r, i));
    const cells = results.map((r, k) =>
      i > 0 && r.died_in_round !== null && i >= r.died_in_round ? "died" : fmt(values[k]),
    );
    const ratios = peers.map((p) => (project ? ratio(rssAt(project, i), rssAt(p, i)) : ""));
    body.push([i === 0 ? "start" : `after round ${i}`, ...cells, ...ratios]);
  }
  const sum = (r: ChurnResult, f: (l: LoadgenLine) => number) =>
    r.rounds.reduce((a, x) => a + f(x.load), 0);
  const extra = peers.map(() => "");
  body.push([
    "lost (all rounds)",
    ...results.map((r) => fmt(sum(r, (l) => l.lost ?? 0))),
    ...extra,
  ]);
  body.push([
    "sends failed",
    ...results.map((r) => fmt(sum(r, (l) => l.sends_failed ?? 0))),
    ...extra,
  ]);
  body.push([
    "stream errors",
    ...results.map((r) => fmt(sum(r, (l) => sumOf(l.stream_errors)))),
    ...extra,
  ]);
  body.push(["status", ...results.map(churnStatus), ...extra]);
  return table(header, body, 1);
}

function churnStatus(r: ChurnResult): string {
  if (r.error !== undefined) return `error: ${r.error}`;
  if (r.died_in_round === null) return `alive after ${r.rounds.length} rounds`;
  const oom = r.log_tail.some((l) => /heap out of memory|Reached heap limit/i.test(l));
  return `died in round ${r.died_in_round} (${oom ? "out of memory, " : ""}exit ${r.exit})`;
}

/** One line per scenario and key figure: what the README's results table is filled from. */
export function summaryTable(
  byScenario: ReadonlyMap<string, ReadonlyMap<ServerName, LoadgenLine>>,
  servers: readonly ServerName[],
): string {
  const peers = servers.filter((s) => s !== "project");
  const header = ["scenario", "figure", ...servers, ...peers.map((p) => `project/${p}`)];
  const body: string[][] = [];
  for (const [scenario, lines] of byScenario) {
    const idle = [...lines.values()].some((l) => l.mode === "idle");
    const figures: [string, (l: LoadgenLine) => number | undefined][] = idle
      ? [["RSS per stream KB", (l) => l.server?.rss_per_stream_kb ?? undefined]]
      : [
          ["deliveries/s", (l) => l.deliveries_per_s],
          ["p99 latency ms", (l) => l.latency_ms?.p99],
          ["server CPU µs/delivery", cpuPerDeliveryUs],
        ];
    for (const [name, f] of figures) {
      const value = (s: ServerName) => {
        const l = lines.get(s);
        return l !== undefined && measured(l) ? f(l) : undefined;
      };
      const ratios = peers.map((p) => ratio(value("project"), value(p)));
      body.push([scenario, name, ...servers.map((s) => fmt(value(s))), ...ratios]);
    }
  }
  return table(header, body, 2);
}
