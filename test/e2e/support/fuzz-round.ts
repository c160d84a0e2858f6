/**
 * The frame both fuzz suites share: warm up, take baselines, fuzz while a
 * well-behaved bystander keeps chatting, then check that nothing leaked and
 * nobody else was hurt. The suites differ only in what one case is.
 */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { TestContext } from "node:test";
import type { TestServer } from "../../support/server.ts";
import { assertHeapNear, type bystander, connectionsDropTo, settledHeapBytes } from "./hostile.ts";
import { subscribe } from "./subscribe.ts";

/**
 * A pino destination that keeps every line logged at error level or above:
 * a client's bad input must never be the server's error.
 */
export function errorLines(): { stream: Writable; errors: string[] } {
  const errors: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n").filter(Boolean)) {
        const entry = JSON.parse(line) as { level: number };
        if (entry.level >= 50) errors.push(line.slice(0, 2000));
      }
      done();
    },
  });
  return { stream, errors };
}

export interface FuzzRoundOptions {
  t: TestContext;
  server: TestServer;
  client: ReturnType<typeof bystander>["client"];
  /** Runs `count` cases, pushing a line per server fault into `faults`. */
  run(count: number, faults: string[]): Promise<void>;
  cases: number;
  /** Error-level log lines seen so far (see `errorLines`). */
  errors: readonly string[];
  /** Faults listed in the assertion message. */
  faultsShown: number;
  /** Time for the server to release every fuzz connection after the run. */
  releaseMs: number;
  /** Before the heap baseline (e.g. wait for the warm-up's connections to go). */
  beforeBaseline?: () => Promise<void>;
  /** After the run, before the connection check (e.g. close the fuzzer's pools). */
  afterRun?: () => void;
  /** Extra diagnostics about the run. */
  describeRun?: () => string | undefined;
}

/** Warm-up, baselines, the fuzz run beside a bystander, then the checks. */
export async function fuzzRound(o: FuzzRoundOptions): Promise<void> {
  const { t, server, client } = o;
  // Warm up (JIT, lazily built tables), then take the baselines.
  await o.run(100, []);
  const sub = subscribe(client, { room: "bystander" });
  await sub.waitForReady(3000);
  await o.beforeBaseline?.();
  const heapBefore = await settledHeapBytes();

  let sent = 0;
  let fuzzing = true;
  const sending = (async () => {
    while (fuzzing) {
      await client.send(
        { room: "bystander", sender: "bystander", text: `m${sent}` },
        { signal: AbortSignal.timeout(3000) },
      );
      sent++;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const faults: string[] = [];
  const started = performance.now();
  try {
    await o.run(o.cases, faults);
  } finally {
    fuzzing = false;
    await sending;
  }
  t.diagnostic(`${o.cases} cases in ${Math.round(performance.now() - started)} ms`);
  const more = o.describeRun?.();
  if (more !== undefined) t.diagnostic(more);
  assert.deepEqual(faults.slice(0, o.faultsShown), [], `${faults.length} faults`);
  await sub.waitForMessages(sent, 3000);
  assert.ok(sent >= 20, `the bystander sent ${sent} messages`);
  await sub.cancel();

  o.afterRun?.();
  // Every slot released: only the bystander's connection is left.
  const releasedMs = await connectionsDropTo(server, 1, o.releaseMs);
  const heapAfter = await assertHeapNear(heapBefore, 16e6);
  t.diagnostic(
    `connections back in ${Math.round(releasedMs)} ms; heap ${(heapBefore / 1e6).toFixed(1)} -> ${(heapAfter / 1e6).toFixed(1)} MB`,
  );
  assert.deepEqual(o.errors.slice(0, 5), [], `${o.errors.length} error lines logged`);
}
