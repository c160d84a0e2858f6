/**
 * Which JavaScript runtime runs the server. The one place that tells Node,
 * Bun and Deno apart; Bun and Deno also report a Node version, so check them
 * first.
 */
export function describeRuntime(): string {
  const versions = (globalThis as { process?: { versions?: Record<string, string | undefined> } })
    .process?.versions;
  if (versions?.bun !== undefined) return `bun ${versions.bun}`;
  if (versions?.deno !== undefined) return `deno ${versions.deno}`;
  return `node ${versions?.node ?? "unknown"}`;
}
