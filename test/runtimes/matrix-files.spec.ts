import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { e2eFiles, e2eNotInMatrix, nativeFiles, nativeNotInMatrix } from "./matrix-files.ts";

const root = join(import.meta.dirname, "..", "..");

/** Spec files under `dir`, relative to the project's root. */
function specsUnder(dir: string): string[] {
  return readdirSync(join(root, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".spec.ts"))
    .map((f) => relative(root, join(root, dir, f)))
    .sort();
}

describe("the runtime matrix's file list", () => {
  it("names every spec file of src/, test/e2e/ and test/runtimes/, once: run, or left to npm test with a reason", () => {
    const named = [
      ...e2eFiles,
      ...Object.keys(e2eNotInMatrix),
      ...nativeFiles,
      ...Object.keys(nativeNotInMatrix),
    ];
    assert.deepEqual(
      named.filter((f, i) => named.indexOf(f) !== i),
      [],
      "named twice",
    );
    const specs = [...specsUnder("src"), ...specsUnder("test/e2e"), ...specsUnder("test/runtimes")];
    assert.deepEqual(
      specs.filter((f) => !named.includes(f)),
      [],
      "not named in test/runtimes/matrix-files.ts",
    );
    assert.deepEqual(
      named.filter((f) => !specs.includes(f)),
      [],
      "named but gone",
    );
  });
});
