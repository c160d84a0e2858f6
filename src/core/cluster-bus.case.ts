/**
 * The contract every `ClusterBus` implementation runs (see cluster-bus.ts),
 * with several "instances" connected to one broker.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { ClusterBus, ClusterBusConnector, ClusterBusHandler } from "./cluster-bus.ts";

/** One connected instance and what its handler heard. */
interface Instance {
  bus: ClusterBus;
  heard: { topic: string; payload: Uint8Array }[];
  resyncs: number;
}

/** Waits until `check` holds, re-checking on every turn for up to `ms`. */
async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const text = (payload: Uint8Array) => new TextDecoder().decode(payload);

/**
 * @param setup makes a fresh broker and returns how to connect instances to
 *   it, and how to tear it down.
 */
export function clusterBusContract(
  name: string,
  setup: () => Promise<{ connect: ClusterBusConnector; teardown?: () => Promise<void> }>,
): void {
  describe(`cluster bus contract: ${name}`, () => {
    const open: ClusterBus[] = [];
    const teardowns: (() => Promise<void>)[] = [];
    after(async () => {
      for (const bus of open) await bus.close();
      for (const teardown of teardowns) await teardown();
    });

    async function instances(n: number): Promise<Instance[]> {
      const { connect, teardown } = await setup();
      if (teardown) teardowns.push(teardown);
      const made: Instance[] = [];
      for (let i = 0; i < n; i++) {
        const instance: Instance = {
          bus: undefined as unknown as ClusterBus,
          heard: [],
          resyncs: 0,
        };
        const handler: ClusterBusHandler = {
          onMessage: (topic, payload) => instance.heard.push({ topic, payload }),
          onResync: () => instance.resyncs++,
        };
        instance.bus = await connect(handler);
        open.push(instance.bus);
        made.push(instance);
      }
      return made;
    }

    it("delivers a payload to every instance that joined the topic, the publisher included, once", async () => {
      const [a, b, c] = (await instances(3)) as [Instance, Instance, Instance];
      await a.bus.join("room");
      await b.bus.join("room");
      await c.bus.join("other");
      await a.bus.publish("room", new TextEncoder().encode("hello"));
      await until(() => a.heard.length === 1 && b.heard.length === 1, "both joined instances");
      await b.bus.publish("other", new TextEncoder().encode("elsewhere"));
      await until(() => c.heard.length === 1, "the other topic's instance");
      assert.deepEqual(
        a.heard.map((h) => [h.topic, text(h.payload)]),
        [["room", "hello"]],
      );
      assert.deepEqual(
        b.heard.map((h) => [h.topic, text(h.payload)]),
        [["room", "hello"]],
      );
      assert.deepEqual(
        c.heard.map((h) => [h.topic, text(h.payload)]),
        [["other", "elsewhere"]],
      );
    });

    it("keeps one order per topic on every instance, whoever publishes", async () => {
      const [a, b, c] = (await instances(3)) as [Instance, Instance, Instance];
      for (const i of [a, b, c]) await i.bus.join("ordered");
      const sends: Promise<void>[] = [];
      for (let n = 0; n < 60; n++) {
        const from = [a, b, c][n % 3] as Instance;
        sends.push(from.bus.publish("ordered", new TextEncoder().encode(String(n))));
      }
      await Promise.all(sends);
      await until(() => [a, b, c].every((i) => i.heard.length === 60), "60 payloads everywhere");
      const order = (i: Instance) => i.heard.map((h) => text(h.payload));
      assert.deepEqual(order(b), order(a));
      assert.deepEqual(order(c), order(a));
      assert.deepEqual([...order(a)].sort(), [...Array(60).keys()].map(String).sort());
    });

    it("carries any bytes unchanged", async () => {
      const [a, b] = (await instances(2)) as [Instance, Instance];
      await b.bus.join("bytes");
      const payload = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
      await a.bus.publish("bytes", payload);
      await until(() => b.heard.length === 1, "the payload");
      assert.deepEqual([...(b.heard[0]?.payload ?? [])], [...payload]);
    });

    it("stops delivering after leave, and a second join is one join", async () => {
      const [a, b] = (await instances(2)) as [Instance, Instance];
      await b.bus.join("t");
      await b.bus.join("t");
      await a.bus.publish("t", new TextEncoder().encode("1"));
      await until(() => b.heard.length === 1, "the first payload");
      b.bus.leave("t");
      // A join elsewhere and a marker published after the leave: once the
      // marker arrives there, anything b would wrongly get has arrived too.
      await a.bus.join("t");
      await a.bus.publish("t", new TextEncoder().encode("2"));
      await until(() => a.heard.length === 1, "the marker");
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(
        b.heard.map((h) => text(h.payload)),
        ["1"],
      );
    });

    it("delivers to nobody when nobody joined, and publish still resolves", async () => {
      const [a] = (await instances(1)) as [Instance];
      await a.bus.publish("empty", new TextEncoder().encode("x"));
      await new Promise((resolve) => setTimeout(resolve, 30));
      assert.equal(a.heard.length, 0);
      assert.equal(a.resyncs, 0);
    });
  });
}
