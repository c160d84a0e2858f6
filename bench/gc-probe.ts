/**
 * Preloaded into the server process by the bench (`--expose-gc --import`), never by the
 * server itself. Over the IPC channel it answers "stats" with `process.memoryUsage()` and
 * the GC pauses seen so far, and "gc" the same after a forced full collection, so per-stream
 * heap cost can be read without GC timing noise and CPU in a quiet window can be told
 * apart from polling. It adds no timer: an idle server stays idle.
 */
import { PerformanceObserver } from "node:perf_hooks";
import process from "node:process";

/** What the probe sends back. */
export interface ProbeReport {
  memory: NodeJS.MemoryUsage;
  /** Garbage collections since start-up, and their summed pause time. */
  gcCount: number;
  gcPauseMs: number;
}

/** Commands the bench sends. */
export type ProbeCommand = "stats" | "gc";

let gcCount = 0;
let gcPauseMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcCount++;
    gcPauseMs += entry.duration;
  }
}).observe({ entryTypes: ["gc"] });

process.on("message", (command: ProbeCommand) => {
  // Read before forcing: the forced collection is the bench's, not the server's.
  const before = { gcCount, gcPauseMs };
  if (command === "gc") globalThis.gc?.();
  const report: ProbeReport = { memory: process.memoryUsage(), ...before };
  process.send?.(report);
});
// The IPC channel must not keep a shut-down server alive.
process.channel?.unref();
