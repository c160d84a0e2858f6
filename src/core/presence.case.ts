/**
 * The contract every `Presence` runs (see presence.ts). A presence shared by
 * several instances also runs the cross-instance cases.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Event } from "../gen/chat/v1/chat_pb.ts";
import type { EventBus } from "./event-bus.ts";
import type { Presence } from "./presence.ts";

/** One instance: its presence, and the bus its announcements are heard on. */
export interface PresenceInstance {
  presence: Presence;
  bus: EventBus<Event>;
}

export interface PresenceContractSetup {
  /** A new instance; all instances of one `setup` share one presence. */
  instance(): Promise<PresenceInstance>;
  teardown?: () => Promise<void>;
}

export interface PresenceContractOptions {
  /**
   * A presence shared by several instances: runs the cross-instance cases
   * too. False for the in-process presence (one process, one instance).
   */
  shared: boolean;
}

/** Announcements heard in `room` on an instance's bus, as "+name" and "-name". */
async function hear(instance: PresenceInstance, room: string): Promise<string[]> {
  const heard: string[] = [];
  await instance.bus.listen(room, {
    onEvent(e) {
      if (e.kind.case === "memberJoined") heard.push(`+${e.kind.value.member?.name}`);
      if (e.kind.case === "memberLeft") heard.push(`-${e.kind.value.name}`);
    },
  });
  return heard;
}

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const names = async (p: Presence, room: string) => (await p.members(room)).map((m) => m.name);
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

export function presenceContract(
  name: string,
  { shared }: PresenceContractOptions,
  setup: () => Promise<PresenceContractSetup>,
): void {
  describe(`presence contract: ${name}`, () => {
    const teardowns: (() => Promise<void>)[] = [];
    after(async () => {
      for (const teardown of teardowns.reverse()) await teardown();
    });
    async function start(): Promise<PresenceContractSetup> {
      const made = await setup();
      if (made.teardown) teardowns.push(made.teardown);
      return made;
    }
    /** A presence of its own, and the announcements its instance hears in `room`. */
    async function startHearing(room: string) {
      const one = await (await start()).instance();
      return { presence: one.presence, heard: await hear(one, room) };
    }

    it("lists members by name, each once however many subscriptions it has, and since its first", async () => {
      const { presence, heard } = await startHearing("r1");
      presence.join("r1", "zoe");
      presence.join("r1", "ann");
      presence.join("r1", "ann");
      presence.join("other", "bob");
      assert.deepEqual(await names(presence, "r1"), ["ann", "zoe"]);
      assert.deepEqual(await names(presence, "empty"), []);
      await until(() => heard.length === 2, "two joins");
      assert.deepEqual(heard, ["+zoe", "+ann"]);
      const [ann] = await presence.members("r1");
      assert.ok((ann?.since?.seconds ?? 0n) > 0n, "since is set");
      await presence.close();
    });

    it("announces a leave after the name's last subscription only", async () => {
      const { presence, heard } = await startHearing("r2");
      presence.join("r2", "ann");
      presence.join("r2", "ann");
      presence.leave("r2", "ann");
      assert.deepEqual(await names(presence, "r2"), ["ann"]);
      presence.leave("r2", "ann");
      assert.deepEqual(await names(presence, "r2"), []);
      await until(() => heard.length === 2, "join and leave");
      await settle();
      assert.deepEqual(heard, ["+ann", "-ann"]);
      presence.leave("r2", "nobody");
      await settle();
      assert.equal(heard.length, 2, "a leave of no one is not announced");
      await presence.close();
    });

    it("withdraws the instance's members on close", async () => {
      const made = await start();
      const one = await made.instance();
      one.presence.join("r3", "ann");
      assert.deepEqual(await names(one.presence, "r3"), ["ann"]);
      await one.presence.close();
      if (shared) {
        const other = await made.instance();
        assert.deepEqual(await names(other.presence, "r3"), []);
        await other.presence.close();
      } else {
        assert.deepEqual(await names(one.presence, "r3"), []);
      }
    });

    if (!shared) return;
    it("is one member list across instances: a name on two instances joins once and leaves once", async () => {
      const made = await start();
      const a = await made.instance();
      const b = await made.instance();
      const heardOnA = await hear(a, "r4");
      const heardOnB = await hear(b, "r4");
      a.presence.join("r4", "ann");
      await until(async () => (await names(b.presence, "r4")).includes("ann"), "ann seen on b");
      b.presence.join("r4", "ann");
      b.presence.join("r4", "bob");
      await until(() => heardOnA.length === 2, "two joins on a");
      assert.deepEqual(await names(a.presence, "r4"), ["ann", "bob"]);
      a.presence.leave("r4", "ann");
      await settle();
      assert.deepEqual(await names(b.presence, "r4"), ["ann", "bob"], "ann is still on b");
      b.presence.leave("r4", "ann");
      await until(() => heardOnA.length === 3, "ann's leave");
      assert.deepEqual(heardOnA, ["+ann", "+bob", "-ann"]);
      await until(() => heardOnB.length === 3, "the same on b");
      assert.deepEqual(heardOnB, heardOnA);
      await a.presence.close();
      await b.presence.close();
    });
  });
}
