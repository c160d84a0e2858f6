import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeqAheadError } from "./errors.ts";
import { planReplay } from "./replay-plan.ts";

const bounds = { firstSeq: 5n, headSeq: 9n };

describe("replay plan", () => {
  it("resumes after a seq of this history", () => {
    assert.deepEqual(planReplay({ case: "afterSeq", value: 7n }, "e1", "e1", bounds), {
      kind: "after",
      afterSeq: 7n,
    });
    assert.deepEqual(planReplay({ case: "afterSeq", value: 0n }, undefined, "e1", bounds), {
      kind: "after",
      afterSeq: 0n,
    });
    assert.deepEqual(planReplay({ case: "afterSeq", value: 9n }, "", "e1", bounds), {
      kind: "after",
      afterSeq: 9n,
    });
  });

  it("resets to the oldest retained message for a position of another history", () => {
    assert.deepEqual(planReplay({ case: "afterSeq", value: 700n }, "old", "new", bounds), {
      kind: "after",
      afterSeq: 4n,
      reset: "new",
    });
  });

  it("refuses a position the room has not reached in this history", () => {
    assert.throws(
      () => planReplay({ case: "afterSeq", value: 10n }, "e1", "e1", bounds),
      (e: unknown) => e instanceof SeqAheadError && e.headSeq === 9n,
    );
  });

  it("replays the newest N, or nothing and goes live at the head", () => {
    assert.deepEqual(planReplay({ case: "last", value: 3 }, undefined, "e1", bounds), {
      kind: "last",
      count: 3,
    });
    assert.deepEqual(planReplay({ case: undefined }, undefined, "e1", bounds), {
      kind: "live",
      afterSeq: 9n,
    });
  });
});
