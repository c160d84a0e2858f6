/**
 * Reads the JUnit XML that `node --test`, `bun test` and `deno test` write,
 * enough for the matrix: each test's describe path, and whether it failed.
 * The three nest differently (Node by describe, Bun by file then describe,
 * Deno flat with "describe > test" names), so paths are normalised here.
 */

export interface TestResult {
  /** Describe names, then the test name. */
  path: string[];
  failed: boolean;
  /** The failure message on one line (at most 300 characters), when failed. */
  message: string;
}

const tagPattern = /<(\/?)(testsuite|testcase|failure|error)\b([^>]*?)(\/?)>/g;

function attribute(attributes: string, name: string): string | undefined {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(attributes);
  return match?.[1] === undefined ? undefined : decodeEntities(match[1]);
}

function decodeEntities(text: string): string {
  return text
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");
}

/** Suite names that are files or runtime internals, not describes. */
function isFileSuite(name: string): boolean {
  return /\.(ts|js|mjs)$/.test(name) || name.startsWith("ext:") || name.startsWith("./");
}

export function parseJunit(xml: string): TestResult[] {
  const suites: string[] = [];
  const results: TestResult[] = [];
  let current: TestResult | undefined;
  for (const [, closing, tag, attributes = "", selfClosing] of xml.matchAll(tagPattern)) {
    if (tag === "testsuite") {
      if (closing) suites.pop();
      else if (!selfClosing) suites.push(attribute(attributes, "name") ?? "");
      continue;
    }
    if (tag === "testcase" && !closing) {
      const name = attribute(attributes, "name") ?? "";
      const path = [...suites.filter((s) => !isFileSuite(s)), ...name.split(" > ")];
      current = { path, failed: attribute(attributes, "failure") !== undefined, message: "" };
      results.push(current);
      if (selfClosing) current = undefined;
      continue;
    }
    if (tag === "testcase" && closing) {
      current = undefined;
      continue;
    }
    if ((tag === "failure" || tag === "error") && !closing && current) {
      current.failed = true;
      // One line, short: the console and the report show it next to the test's name.
      current.message ||= (attribute(attributes, "message") ?? "")
        .replace(/\s+/g, " ")
        .slice(0, 300);
    }
  }
  // Deno also reports each describe as a test of its own: keep the leaves.
  const keys = results.map((r) => r.path.join("\u0000"));
  return results.filter(
    (_, i) => !keys.some((other, j) => j !== i && other.startsWith(`${keys[i]}\u0000`)),
  );
}
