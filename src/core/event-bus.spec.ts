import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createEventBus } from "./event-bus.ts";

describe("event bus", () => {
  it("delivers to listeners of the topic only, in order, synchronously", () => {
    const bus = createEventBus<number>();
    const a: number[] = [];
    const b: number[] = [];
    bus.listen("a", (n) => a.push(n));
    bus.listen("b", (n) => b.push(n));
    bus.publish("a", 1);
    bus.publish("b", 2);
    bus.publish("a", 3);
    assert.deepEqual(a, [1, 3]);
    assert.deepEqual(b, [2]);
  });

  it("stops calling a listener once it unlistens, and forgets empty topics", () => {
    const bus = createEventBus<number>();
    const seen: number[] = [];
    const stop = bus.listen("a", (n) => seen.push(n));
    const other = bus.listen("a", () => {});
    assert.equal(bus.subscriberCount("a"), 2);
    bus.publish("a", 1);
    stop();
    stop();
    bus.publish("a", 2);
    assert.deepEqual(seen, [1]);
    assert.equal(bus.subscriberCount(), 1, "a second unlisten removes nothing more");
    other();
    assert.equal(bus.subscriberCount("a"), 0);
    assert.equal(bus.subscriberCount(), 0);
  });

  it("registers the same function twice as two listeners", () => {
    const bus = createEventBus<number>();
    const seen: number[] = [];
    const push = (n: number) => seen.push(n);
    const first = bus.listen("a", push);
    bus.listen("a", push);
    bus.publish("a", 1);
    first();
    bus.publish("a", 2);
    assert.deepEqual(seen, [1, 1, 2]);
  });

  it("a listener that unlistens another during publish does not break the fan-out", () => {
    const bus = createEventBus<number>();
    const seen: string[] = [];
    let stopB = () => {};
    bus.listen("a", (n) => {
      seen.push(`a${n}`);
      stopB();
    });
    stopB = bus.listen("a", (n) => seen.push(`b${n}`));
    bus.listen("a", (n) => seen.push(`c${n}`));
    bus.publish("a", 1);
    bus.publish("a", 2);
    assert.deepEqual(seen, ["a1", "c1", "a2", "c2"]);
  });
});
