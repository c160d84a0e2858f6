import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SubscriberOverflowError } from "./errors.ts";
import { createEventBus } from "./event-bus.ts";

async function take<T>(it: AsyncIterator<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) {
    const r = await it.next();
    if (r.done) break;
    out.push(r.value);
  }
  return out;
}

describe("event bus", () => {
  it("delivers to subscribers of the topic only, in order", async () => {
    const bus = createEventBus<number>();
    const ac = new AbortController();
    const a = bus.subscribe("a", { signal: ac.signal })[Symbol.asyncIterator]();
    const b = bus.subscribe("b", { signal: ac.signal })[Symbol.asyncIterator]();
    bus.publish("a", 1);
    bus.publish("b", 10);
    bus.publish("a", 2);
    assert.deepEqual(await take(a, 2), [1, 2]);
    assert.deepEqual(await take(b, 1), [10]);
    ac.abort();
  });

  it("buffers from the moment of subscribe, before iteration starts", async () => {
    const bus = createEventBus<string>();
    const ac = new AbortController();
    const sub = bus.subscribe("room", { signal: ac.signal });
    bus.publish("room", "early");
    const it = sub[Symbol.asyncIterator]();
    assert.deepEqual(await take(it, 1), ["early"]);
    ac.abort();
  });

  it("wakes a waiting subscriber only when its topic is published", async () => {
    const bus = createEventBus<number>();
    const ac = new AbortController();
    const it = bus.subscribe("a", { signal: ac.signal })[Symbol.asyncIterator]();
    let settled = false;
    const next = it.next().then((r) => {
      settled = true;
      return r;
    });
    bus.publish("other", 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(settled, false, "a publish to another topic must not wake it");
    bus.publish("a", 2);
    assert.deepEqual(await next, { value: 2, done: false });
    ac.abort();
  });

  it("removes the listener when the signal aborts, and throws the reason", async () => {
    const bus = createEventBus<number>();
    const ac = new AbortController();
    const it = bus.subscribe("a", { signal: ac.signal })[Symbol.asyncIterator]();
    assert.equal(bus.subscriberCount("a"), 1);
    const pending = it.next();
    const reason = new Error("client went away");
    ac.abort(reason);
    await assert.rejects(pending, reason);
    assert.equal(bus.subscriberCount("a"), 0);
    assert.equal(bus.subscriberCount(), 0);
  });

  it("removes the listener when the consumer stops iterating", async () => {
    const bus = createEventBus<number>();
    const ac = new AbortController();
    const sub = bus.subscribe("a", { signal: ac.signal });
    bus.publish("a", 1);
    for await (const _ of sub) break;
    assert.equal(bus.subscriberCount("a"), 0);
  });

  it("a subscribe with an already aborted signal registers nothing", () => {
    const bus = createEventBus<number>();
    bus.subscribe("a", { signal: AbortSignal.abort() });
    assert.equal(bus.subscriberCount(), 0);
  });

  it("cuts off a slow subscriber without affecting the others", async () => {
    const bus = createEventBus<number>();
    const ac = new AbortController();
    const slow = bus.subscribe("a", { signal: ac.signal, maxQueue: 3 })[Symbol.asyncIterator]();
    const fast = bus.subscribe("a", { signal: ac.signal, maxQueue: 100 })[Symbol.asyncIterator]();
    for (let i = 1; i <= 10; i++) bus.publish("a", i);
    assert.equal(bus.subscriberCount("a"), 1, "the slow one is removed at overflow");
    // What was accepted before the overflow is still delivered, then the error.
    assert.deepEqual(await take(slow, 3), [1, 2, 3]);
    await assert.rejects(slow.next(), SubscriberOverflowError);
    assert.deepEqual(await take(fast, 10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    ac.abort();
  });
});
