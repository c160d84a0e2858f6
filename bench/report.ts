/** The human-readable tables printed at the end of a bench run. */
import type { FanOutResult } from "./fan-out.ts";
import type { IdleResult } from "./idle-streams.ts";

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const fixed = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : "-");

/**
 * Renders rows as a Markdown table (also readable as plain text). Columns are right-aligned
 * (figures), except the first `textColumns` (labels), which are left-aligned.
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  textColumns = 0,
): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i < textColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i < textColumns ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** A column of {@link columnTable}: its header, and how it prints a row's cell. */
export type Column<T> = readonly [header: string, cell: (row: T) => string];

/** {@link table} by columns, so that each header stands beside the cell it heads. */
export function columnTable<T>(
  rows: readonly T[],
  columns: readonly Column<T>[],
  textColumns = 0,
): string {
  return table(
    columns.map(([header]) => header),
    rows.map((row) => columns.map(([, cell]) => cell(row))),
    textColumns,
  );
}

export function idleTable(results: readonly IdleResult[]): string {
  return table(
    [
      "protocol",
      "streams",
      "conns",
      "open s",
      "fds 0→N",
      "RSS 0 MB",
      "RSS N MB",
      "RSS/stream KB",
      "heap/stream KB",
      "CPU% 0",
      "CPU% N",
      "main thr CPU% N",
      "GCs N (ms)",
    ],
    results.map((r) => [
      r.kind,
      String(r.streams),
      String(r.connections),
      fixed(r.openSeconds, 2),
      `${r.baseline.serverFds}→${r.loaded.serverFds}`,
      mb(r.baseline.window.serverRssMeanBytes),
      mb(r.loaded.window.serverRssMeanBytes),
      kb(r.rssPerStreamBytes),
      kb(r.heapPerStreamBytes),
      fixed(r.baseline.window.serverCpuPercent, 2),
      fixed(r.loaded.window.serverCpuPercent, 2),
      fixed(r.loaded.window.serverMainThreadCpuPercent, 2),
      `${r.loaded.gcCount} (${fixed(r.loaded.gcPauseMs, 0)})`,
    ]),
  );
}

/** Ratios are against gRPC with a connection per subscriber and the same Sends in flight. */
export function fanOutTable(results: readonly FanOutResult[]): string {
  return table(
    [
      "subscribers",
      "conns",
      "in flight",
      "msgs",
      "s",
      "deliveries/s",
      "×gRPC",
      "p50 ms",
      "p99 ms",
      "max ms",
      "p99 ×gRPC",
      "srv CPU% (main thr)",
      "srv µs/deliv",
      "client CPU%",
      "max lag",
      "srv RSS max MB",
    ],
    results.map((r) => {
      const grpc = results.find(
        (g) => g.kind === "grpc" && g.connections === g.subscribers && g.inFlight === r.inFlight,
      );
      const cpuSeconds = (r.window.serverCpuPercent / 100) * r.window.seconds;
      return [
        `${r.subscribers} ${r.kind}`,
        String(r.connections),
        String(r.inFlight),
        String(r.messages),
        fixed(r.elapsedSeconds, 2),
        fixed(r.deliveriesPerSecond, 0),
        grpc ? fixed(r.deliveriesPerSecond / grpc.deliveriesPerSecond, 2) : "-",
        fixed(r.latencyMs.p50),
        fixed(r.latencyMs.p99),
        fixed(r.latencyMs.max),
        grpc ? fixed(r.latencyMs.p99 / grpc.latencyMs.p99, 2) : "-",
        `${fixed(r.window.serverCpuPercent, 0)} (${fixed(r.window.serverMainThreadCpuPercent, 0)})`,
        fixed((cpuSeconds / r.deliveries) * 1e6, 0),
        fixed(r.window.clientCpuPercent, 0),
        String(r.maxLagMessages),
        mb(r.window.serverRssMaxBytes),
      ];
    }),
  );
}
