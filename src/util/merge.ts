/**
 * Interleaves several async iterables, yielding values as they arrive. Ends
 * when all sources are done; the first error ends the merge and the other
 * sources are asked to stop (without waiting for them: a source blocked on
 * network input would otherwise hold the merge open).
 */
export async function* merge<T>(...sources: AsyncIterable<T>[]): AsyncGenerator<T> {
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  const pending = new Map<number, Promise<{ i: number; r: IteratorResult<T> }>>();
  const pull = (i: number) => {
    const it = iterators[i] as AsyncIterator<T>;
    pending.set(
      i,
      it.next().then((r) => ({ i, r })),
    );
  };
  iterators.forEach((_, i) => {
    pull(i);
  });
  try {
    while (pending.size > 0) {
      const { i, r } = await Promise.race(pending.values());
      if (r.done) {
        pending.delete(i);
      } else {
        pull(i);
        yield r.value;
      }
    }
  } finally {
    for (const p of pending.values()) p.catch(() => {});
    for (const it of iterators) it.return?.().catch(() => {});
  }
}
