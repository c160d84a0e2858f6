/**
 * Runs every cleanup step in order, each even if an earlier one failed, then
 * rethrows the first failure. An `after` hook that stops at a server's
 * failed close leaves the Redis (or nginx) after it running, and that child
 * process keeps the test file's process alive: the run hangs instead of
 * failing (seen in CI: a server's exit 1 left a Redis running for 90 minutes).
 */
export async function cleanUpAll(...steps: (() => unknown)[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      failures.push(e);
    }
  }
  throwFirst(failures);
}

/** Closes all of `items` at once; every close is awaited before a failure is thrown. */
export async function closeEach<T>(items: Iterable<T>, close: (item: T) => unknown): Promise<void> {
  const settled = await Promise.allSettled([...items].map(async (item) => close(item)));
  throwFirst(settled.flatMap((r) => (r.status === "rejected" ? [r.reason] : [])));
}

function throwFirst(failures: unknown[]): void {
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, "more than one cleanup failed");
}
