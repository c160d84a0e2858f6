import type { Readable } from "node:stream";
import { eventually } from "../../support/server.ts";

/** The lines a child process printed so far, and a bounded wait for more. */
export interface LineLog {
  readonly lines: string[];
  /** Resolves once `predicate(lines)` holds; rejects after `ms` with the lines seen. */
  waitFor(predicate: (lines: string[]) => boolean, ms: number, what: string): Promise<void>;
}

/** Collects `stream` line by line (UTF-8, `\n`-separated) from now on. */
export function collectLines(stream: Readable): LineLog {
  const lines: string[] = [];
  let partial = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop() ?? "";
    lines.push(...parts);
  });
  return {
    lines,
    async waitFor(predicate, ms, what) {
      try {
        await eventually(() => predicate(lines), ms, what);
      } catch (e) {
        throw new Error(`${(e as Error).message}; lines so far: ${JSON.stringify(lines)}`);
      }
    },
  };
}
