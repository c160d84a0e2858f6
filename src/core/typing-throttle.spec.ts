import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createTypingThrottle } from "./typing-throttle.ts";

describe("typing throttle", () => {
  it("passes a change at once and a repeat once per interval, per room and name", () => {
    let t = 0;
    const throttle = createTypingThrottle(1000, () => t);
    assert.equal(throttle.pass("r", "ann", true), true);
    assert.equal(throttle.pass("r", "ann", true), false, "a repeat within the interval");
    assert.equal(throttle.pass("r", "bob", true), true, "another name");
    assert.equal(throttle.pass("s", "ann", true), true, "another room");
    assert.equal(throttle.pass("r", "ann", false), true, "a change");
    t = 999;
    assert.equal(throttle.pass("r", "ann", false), false);
    t = 1000;
    assert.equal(throttle.pass("r", "ann", false), true, "a repeat after the interval");
  });

  it("forgets what is older than the interval, without letting repeats through", () => {
    let t = 0;
    const throttle = createTypingThrottle(1000, () => t);
    for (let i = 0; i < 50_000; i++) throttle.pass("r", `user${i}`, true);
    // Far more names than any fixed cap: the recent ones are still throttled.
    assert.equal(throttle.pass("r", "user49999", true), false);
    assert.equal(throttle.pass("r", "user0", true), false);
    t = 2000;
    assert.equal(throttle.pass("r", "user0", true), true, "forgotten once stale");
  });
});
