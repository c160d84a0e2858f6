/**
 * Runs {@link rapidReset} in a process of its own, so that the attacker's CPU is not the
 * server's: `node --import tsx rapid-reset-attacker.ts URL STREAMS CONCURRENCY MAX_MS`.
 * Prints the report as one JSON line.
 */
import { rapidReset } from "./rapid-reset.ts";

const [url, streams, concurrency, maxMs] = process.argv.slice(2);
const report = await rapidReset({
  url: String(url),
  streams: Number(streams),
  concurrency: Number(concurrency),
  maxMs: Number(maxMs),
});
process.stdout.write(`${JSON.stringify(report)}\n`);
