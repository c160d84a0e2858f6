/** CPU and memory of the server (and of this client process) over a time window. */
import type { ProcSample, ServerProcess } from "./server-process.ts";

export interface WindowStats {
  seconds: number;
  /** Server CPU time / wall time, in percent of one core (200 % = both cores busy). */
  serverCpuPercent: number;
  /** The server's main thread only (its event loop), same unit. */
  serverMainThreadCpuPercent: number;
  /** The bench process's own CPU over the same window (clients and sender), same unit. */
  clientCpuPercent: number;
  serverRssMeanBytes: number;
  serverRssMaxBytes: number;
  serverRssEndBytes: number;
  /** Server CPU ms spent in each sampling interval: a one-off GC shows as one bump, polling as a floor. */
  serverCpuMsByInterval: number[];
}

export interface Monitor {
  stop(): WindowStats;
}

/**
 * Samples the server every `intervalMs` (RSS only; CPU is taken from the first and last
 * sample). `stop()` is idempotent, so it can sit in a `finally`.
 */
export function startMonitor(server: ServerProcess, intervalMs = 250): Monitor {
  const samples: ProcSample[] = [server.sample()];
  const clientStart = process.cpuUsage();
  const timer = setInterval(() => {
    try {
      samples.push(server.sample());
    } catch {
      clearInterval(timer); // the server is gone; stop() reports what was seen
    }
  }, intervalMs);
  timer.unref();
  let stopped: WindowStats | undefined;
  return {
    stop() {
      if (stopped !== undefined) return stopped;
      clearInterval(timer);
      const client = process.cpuUsage(clientStart);
      try {
        samples.push(server.sample());
      } catch {
        // gone: the last periodic sample stands
      }
      const first = samples[0] as ProcSample;
      const last = samples[samples.length - 1] as ProcSample;
      const seconds = (last.atMs - first.atMs) / 1000;
      const rss = samples.map((s) => s.rssBytes);
      stopped = {
        seconds,
        serverCpuPercent: (100 * (last.cpuSeconds - first.cpuSeconds)) / seconds,
        serverMainThreadCpuPercent:
          (100 * (last.mainThreadCpuSeconds - first.mainThreadCpuSeconds)) / seconds,
        clientCpuPercent: (100 * (client.user + client.system)) / 1e6 / seconds,
        serverRssMeanBytes: rss.reduce((a, b) => a + b, 0) / rss.length,
        serverRssMaxBytes: Math.max(...rss),
        serverRssEndBytes: last.rssBytes,
        serverCpuMsByInterval: samples
          .slice(1)
          .map((x, i) => Math.round((x.cpuSeconds - (samples[i] as ProcSample).cpuSeconds) * 1000)),
      };
      return stopped;
    },
  };
}
