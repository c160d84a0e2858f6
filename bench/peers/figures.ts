/**
 * The load generator's JSON line (the fields this harness reads; see bench-peers'
 * README for all of them) and the figures derived from it for the tables and the picture.
 */

export interface LoadgenLine {
  /** `<server>:<scenario>` */
  label: string;
  mode?: "idle" | "fanout" | "burst";
  error?: string;
  skipped?: string;
  probe_error?: string | null;
  subscribers?: number;
  connections?: number;
  ready_subs?: number | null;
  notes_sent?: number;
  sends_ok?: number;
  sends_failed?: number;
  send_errors?: Record<string, number>;
  sends_skipped_inflight_cap?: number;
  received_deliveries?: number;
  lost?: number;
  duplicated?: number;
  out_of_order?: number;
  drained?: boolean;
  deliveries_per_s?: number;
  latency_ms?: { p50?: number; p90?: number; p99?: number; max?: number } | null;
  loadgen_cpu_pct?: number;
  stream_errors?: Record<string, number>;
  host?: { other_cpu_pct?: number | null } | null;
  server?: {
    cpu_pct?: number;
    rss_kb_base?: number;
    rss_kb?: number;
    rss_kb_max?: number;
    rss_per_stream_kb?: number | null;
    threads?: number;
    alive?: boolean;
  } | null;
  /** Added by this harness: attempts run.sh made (it keeps the least disturbed). */
  attempts?: number;
}

export const serverOf = (line: LoadgenLine) => line.label.split(":")[0] ?? "";
export const scenarioOf = (line: LoadgenLine) => line.label.split(":").slice(1).join(":");

/** A run that measured something (not skipped, and the load generator got going). */
export const measured = (line: LoadgenLine) =>
  line.skipped === undefined && line.mode !== undefined;

/** Server CPU time per delivered message, µs (all server threads; 100 % = one core). */
export function cpuPerDeliveryUs(line: LoadgenLine): number | undefined {
  const cpu = line.server?.cpu_pct;
  const rate = line.deliveries_per_s;
  if (cpu === undefined || rate === undefined || rate <= 0) return undefined;
  return ((cpu / 100) * 1e6) / rate;
}

/**
 * Share of the notes due in the window that were acknowledged within the SendNote deadline
 * (5 s): skipped sends (the sender's in-flight cap was reached) count as not acknowledged.
 */
export function ackedPct(line: LoadgenLine): number | undefined {
  if (line.notes_sent === undefined || line.sends_ok === undefined) return undefined;
  const due = line.notes_sent + (line.sends_skipped_inflight_cap ?? 0);
  return due > 0 ? (100 * line.sends_ok) / due : undefined;
}

export const sumOf = (counts: Record<string, number> | undefined) =>
  Object.values(counts ?? {}).reduce((a, b) => a + b, 0);

export const countsText = (counts: Record<string, number> | undefined) =>
  Object.entries(counts ?? {})
    .map(([k, v]) => `${k}×${v}`)
    .join(" ");

/** What went wrong in a run, in a few words, or "". */
export function problems(line: LoadgenLine): string {
  const out: string[] = [];
  if (line.skipped !== undefined) out.push(`skipped: ${line.skipped}`);
  if (line.error !== undefined) out.push(`error: ${line.error}`);
  if (line.probe_error) out.push(`probe: ${line.probe_error}`);
  if (line.server?.alive === false) out.push("SERVER DIED");
  if (line.drained === false) out.push("not drained");
  if (line.sends_skipped_inflight_cap) out.push(`${line.sends_skipped_inflight_cap} sends skipped`);
  return out.join("; ");
}
