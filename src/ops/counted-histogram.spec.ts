import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Histogram, Registry } from "prom-client";
import { createCountedHistogram } from "./counted-histogram.ts";

const buckets = [0.001, 0.01, 0.1, 1];

/** The registry's text for one histogram, without its help line (the names differ). */
async function text(registry: Registry): Promise<string> {
  const out = await registry.metrics();
  return out.replace(/^# HELP .*$/m, "").trim();
}

describe("createCountedHistogram", () => {
  it("is exported exactly as prom-client's Histogram with the same buckets and values", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const counted = createCountedHistogram({ name: "h", help: "x", buckets, registry: ours });
    const reference = new Histogram({ name: "h", help: "y", buckets, registers: [theirs] });
    // Below, on and above every bound (a bound is inclusive), and past the last.
    for (const v of [0, 0.0005, 0.001, 0.0011, 0.01, 0.05, 0.1, 0.7, 1, 1.5, 30, 30]) {
      counted.observe(v);
      reference.observe(v);
    }
    assert.equal(await text(ours), await text(theirs));
    assert.match(await text(ours), /^h_bucket\{le="\+Inf"\} 12$/m);
    assert.match(await text(ours), /^h_bucket\{le="0.001"\} 3$/m);
  });

  it("starts at zero, and again after a reset, like prom-client's", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const counted = createCountedHistogram({ name: "h", help: "x", buckets, registry: ours });
    new Histogram({ name: "h", help: "y", buckets, registers: [theirs] });
    counted.observe(0.5);
    ours.resetMetrics();
    assert.equal(await text(ours), await text(theirs));
    assert.match(await text(ours), /^h_count 0$/m);
    assert.match(await text(ours), /^h_bucket\{le="1"\} 0$/m);
  });
});
