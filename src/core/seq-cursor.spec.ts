import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SeqCursor } from "./seq-cursor.ts";

describe("SeqCursor", () => {
  it("tells given, next and after-a-hole messages apart", () => {
    const cursor = new SeqCursor();
    cursor.moveTo(5n);
    assert.equal(cursor.isNew(5n), false, "already given");
    assert.equal(cursor.isNew(6n), true);
    assert.equal(cursor.isAfterHole(6n), false, "the next one");
    assert.equal(cursor.isAfterHole(8n), true, "6 and 7 are missing");
  });

  it("announces what is missing as one gap, and nothing when nothing is", () => {
    const cursor = new SeqCursor();
    cursor.moveTo(5n);
    assert.equal(cursor.gapBefore(6n), undefined);
    const gap = cursor.gapBefore(9n);
    assert.equal(gap?.kind.case, "gap");
    assert.deepEqual(
      gap?.kind.case === "gap" ? [gap.kind.value.afterSeq, gap.kind.value.nextSeq] : [],
      [5n, 9n],
    );
    assert.equal(cursor.lastSeq, 5n, "a gap does not move the cursor by itself");
  });
});
