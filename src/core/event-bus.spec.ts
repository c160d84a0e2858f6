import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { type BusListener, createEventBus } from "./event-bus.ts";

/** A listener that records what it is called with. */
function recorder(seen: unknown[], tag = ""): BusListener<number> {
  return { onEvent: (n) => seen.push(`${tag}${n}`) };
}

describe("event bus", () => {
  it("delivers to listeners of the topic only, in order, synchronously", () => {
    const bus = createEventBus<number>();
    const a: unknown[] = [];
    const b: unknown[] = [];
    bus.listen("a", recorder(a));
    bus.listen("b", recorder(b));
    bus.publish("a", 1);
    bus.publish("b", 2);
    bus.publish("a", 3);
    assert.deepEqual(a, ["1", "3"]);
    assert.deepEqual(b, ["2"]);
  });

  it("stops calling a listener once it unlistens, and forgets empty topics", () => {
    const bus = createEventBus<number>();
    const seen: unknown[] = [];
    const one = recorder(seen);
    const other = recorder([]);
    bus.listen("a", one);
    bus.listen("a", other);
    bus.listen("a", one);
    assert.equal(bus.subscriberCount("a"), 2, "listening twice counts once");
    bus.publish("a", 1);
    bus.unlisten("a", one);
    bus.unlisten("a", one);
    bus.unlisten("b", other);
    bus.publish("a", 2);
    assert.deepEqual(seen, ["1"]);
    assert.equal(bus.subscriberCount(), 1, "a second unlisten removes nothing more");
    bus.unlisten("a", other);
    assert.equal(bus.subscriberCount("a"), 0);
    assert.equal(bus.subscriberCount(), 0);
  });

  it("a listener that unlistens another during publish does not break the fan-out", () => {
    const bus = createEventBus<number>();
    const seen: unknown[] = [];
    const b = recorder(seen, "b");
    bus.listen("a", {
      onEvent(n) {
        seen.push(`a${n}`);
        bus.unlisten("a", b);
      },
    });
    bus.listen("a", b);
    bus.listen("a", recorder(seen, "c"));
    bus.publish("a", 1);
    bus.publish("a", 2);
    assert.deepEqual(seen, ["a1", "c1", "a2", "c2"]);
  });
});
