/**
 * The room reducer on its own: no transport, no timer, no listener. Each
 * case feeds events and checks the state and the changes to announce.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { type Event, EventSchema } from "../../src/gen/chat/v1/chat_pb.ts";
import { applyEvent, createRoomState, type RoomState, resumePoint } from "./room-state.ts";

const event = (init: MessageInitShape<typeof EventSchema>): Event => create(EventSchema, init);
const msg = (seq: number, sender = "ann") =>
  event({
    kind: { case: "message", value: { room: "r", seq: BigInt(seq), sender, text: `m${seq}` } },
  });
const ready = (epoch: string, names: string[] = []) =>
  event({ kind: { case: "ready", value: { epoch, members: names.map((name) => ({ name })) } } });
const joined = (name: string) =>
  event({ kind: { case: "memberJoined", value: { member: { name } } } });
const left = (name: string) => event({ kind: { case: "memberLeft", value: { name } } });
const typing = (name: string, on: boolean) =>
  event({ kind: { case: "typing", value: { name, typing: on } } });

/**
 * Applies `events` in order, holding messages as the session does (after
 * those in `held`). Returns the final state, the seqs held and every change,
 * as `case` or `case:detail`.
 */
function run(
  events: (Event | undefined)[],
  from: RoomState = createRoomState("me"),
  held: bigint[] = [],
) {
  let state = from;
  const changes: string[] = [];
  for (const e of events) {
    const update = applyEvent(state, e);
    state = update.state;
    for (const change of update.changes) {
      switch (change.case) {
        case "message":
          held.push(change.value.seq);
          changes.push(`message:${change.value.seq}`);
          break;
        case "members":
          changes.push(`members:${[...change.value.keys()].join(",")}`);
          break;
        case "typing":
          changes.push(`typing:${change.value.name}:${change.value.typing}`);
          break;
        case "gap":
          changes.push(`gap:${change.value.afterSeq}-${change.value.nextSeq}`);
          break;
        case "reset":
          held.length = 0;
          changes.push(`reset:${change.value.epoch}`);
          break;
        case "ready":
          changes.push("ready");
          break;
      }
    }
  }
  return { state, changes, held };
}

describe("room state", () => {
  it("starts empty, and the first Subscribe replays the newest `history`", () => {
    const state = createRoomState("me");
    assert.equal(state.lastSeq, 0n);
    assert.equal(state.epoch, undefined);
    assert.equal(state.members.size, 0);
    assert.deepEqual(resumePoint(state, 50), { epoch: "", start: { case: "last", value: 50 } });
  });

  it("holds messages in seq order and drops what it already holds (a resumed replay)", () => {
    const { state, held } = run([msg(1), msg(2), msg(2), msg(1), msg(3)]);
    assert.deepEqual(held, [1n, 2n, 3n]);
    assert.equal(state.lastSeq, 3n);
  });

  it("a message ends its sender's typing, announced before the message", () => {
    const { changes } = run([msg(1, "bob")]);
    assert.deepEqual(changes, ["typing:bob:false", "message:1"]);
  });

  it("never modifies the state it is given", () => {
    const before = run([ready("e1", ["ann"]), msg(1)]).state;
    const snapshot = { ...before, members: new Map(before.members) };
    run(
      [msg(2), joined("bob"), left("ann"), event({ kind: { case: "reset", value: {} } })],
      before,
    );
    assert.deepEqual(before, snapshot);
  });

  it("Ready sets the epoch and the member snapshot, then announces going live", () => {
    const { state, changes } = run([msg(1), ready("e1", ["ann", "me"])]);
    assert.equal(state.epoch, "e1");
    assert.deepEqual([...state.members.keys()], ["ann", "me"]);
    assert.deepEqual(changes.slice(-2), ["members:ann,me", "ready"]);
    assert.deepEqual(resumePoint(state, 50), {
      epoch: "e1",
      start: { case: "afterSeq", value: 1n },
    });
  });

  it("keeps members current from joins and leaves; a leaver stops typing", () => {
    const { state, changes } = run([
      ready("e1", ["me"]),
      joined("bob"),
      joined("cy"),
      left("bob"),
      left("nobody"),
      event({ kind: { case: "memberJoined", value: {} } }),
    ]);
    assert.deepEqual([...state.members.keys()], ["me", "cy"]);
    assert.deepEqual(changes, [
      "members:me",
      "ready",
      "members:me,bob",
      "members:me,bob,cy",
      "members:me,cy",
      "typing:bob:false",
      "typing:nobody:false",
    ]);
  });

  it("typing: others' notices start and stop; our own are not shown", () => {
    const { state, changes } = run([typing("me", true), typing("ann", true), typing("ann", false)]);
    assert.deepEqual(changes, ["typing:ann:true", "typing:ann:false"]);
    // Notices expire on a timer, which is the session's: the state is untouched.
    assert.deepEqual(state, createRoomState("me"));
  });

  it("HistoryGap is announced, changes nothing held, and the replay goes on past it", () => {
    const before = run([msg(1)]).state;
    const gap = event({ kind: { case: "gap", value: { afterSeq: 1n, nextSeq: 5n } } });
    const update = applyEvent(before, gap);
    assert.equal(update.state, before);
    const { state, changes, held } = run([gap, msg(5)], before, [1n]);
    assert.deepEqual(changes, ["gap:1-5", "typing:ann:false", "message:5"]);
    assert.deepEqual(held, [1n, 5n]);
    assert.equal(state.lastSeq, 5n);
  });

  it("HistoryReset discards the history held and resumes in the new epoch from its start", () => {
    const { state, changes, held } = run([
      msg(1),
      msg(2),
      ready("e1"),
      event({ kind: { case: "reset", value: { epoch: "e2" } } }),
    ]);
    assert.deepEqual(held, []);
    assert.equal(state.lastSeq, 0n);
    assert.equal(state.epoch, "e2");
    assert.equal(changes.at(-1), "reset:e2");
    assert.deepEqual(resumePoint(state, 50), {
      epoch: "e2",
      start: { case: "afterSeq", value: 0n },
    });
    // The new history's seqs start over, and are held again.
    assert.deepEqual(run([msg(1)], state).held, [1n]);
  });

  it("heartbeats, unknown kinds and missing events change nothing", () => {
    const before = run([msg(1)]).state;
    for (const e of [event({ kind: { case: "heartbeat", value: {} } }), event({}), undefined]) {
      const update = applyEvent(before, e);
      assert.equal(update.state, before);
      assert.deepEqual(update.changes, []);
    }
  });
});
