import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { createRateLimits, rateLimitKey, retryAfterMsKey } from "./rate-limits.ts";
import { createKeyedTokenBuckets } from "./token-bucket.ts";

describe("token buckets", () => {
  it("allow a burst, then one per refill interval, with an exact wait", () => {
    let t = 0;
    const b = createKeyedTokenBuckets({ rate: { count: 3, perMs: 300 }, now: () => t });
    assert.deepEqual([b.take("a"), b.take("a"), b.take("a")], [0, 0, 0]);
    assert.equal(b.take("a"), 100);
    t += 50;
    assert.equal(b.take("a"), 50, "a refused take costs nothing");
    t += 50;
    assert.equal(b.take("a"), 0);
    assert.equal(b.take("a"), 100);
    // Other keys have their own bucket.
    assert.equal(b.take("b"), 0);
    // Refills stop at the burst size.
    t += 10_000;
    assert.deepEqual([b.take("a"), b.take("a"), b.take("a"), b.take("a")], [0, 0, 0, 100]);
  });

  it("count 0 is no limit", () => {
    const b = createKeyedTokenBuckets({ rate: { count: 0, perMs: 1000 } });
    for (let i = 0; i < 1000; i++) assert.equal(b.take("a"), 0);
    assert.equal(b.size, 0);
  });

  it("hold at most maxKeys buckets, dropping full ones first", () => {
    let t = 0;
    const b = createKeyedTokenBuckets({
      rate: { count: 2, perMs: 1000 },
      maxKeys: 100,
      now: () => t,
    });
    b.take("busy");
    b.take("busy");
    for (let i = 0; i < 1000; i++) {
      b.take(`k${i}`);
      t += 1;
    }
    assert.ok(b.size <= 100, `${b.size} buckets`);
    // k999 is recent and not full: kept; its limit still applies.
    assert.equal(b.take("k999"), 0);
    assert.ok(b.take("k999") > 0);
  });
});

describe("rate limits", () => {
  it("refuse with ResourceExhausted and a retry-after-ms hint", () => {
    let t = 0;
    const limits = createRateLimits(
      { sends: { count: 2, perMs: 1000 }, typing: { count: 0, perMs: 1000 } },
      () => t,
    );
    limits.check("sends", "sub:a");
    limits.check("sends", "sub:a");
    const e = (() => {
      try {
        limits.check("sends", "sub:a");
      } catch (e) {
        return e;
      }
    })();
    assert.ok(e instanceof ConnectError);
    assert.equal(e.code, Code.ResourceExhausted);
    assert.equal(e.metadata.get(retryAfterMsKey), "500");
    assert.match(e.rawMessage, /retry in 500 ms/);
    limits.check("sends", "sub:b");
    for (let i = 0; i < 100; i++) limits.check("typing", "sub:a");
    t += 500;
    limits.check("sends", "sub:a");
  });

  it("key by subject, else by address", () => {
    assert.equal(rateLimitKey(undefined, "10.0.0.1"), "ip:10.0.0.1");
    const id = { name: "n", sub: "s", canRead: () => true, canWrite: () => true };
    assert.equal(rateLimitKey(id, "10.0.0.1"), "sub:s");
  });
});
