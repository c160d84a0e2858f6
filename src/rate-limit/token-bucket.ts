/**
 * How fast one kind of request may come from one caller: `count` per
 * `perMs`. A token bucket of `count` tokens that refills at `count / perMs`
 * per millisecond: a burst of `count` at once, then a steady `count` per
 * `perMs`.
 */
export interface Rate {
  count: number;
  perMs: number;
}

/** Token buckets by key (a caller), created full on first use. */
export interface KeyedTokenBuckets {
  /**
   * Takes one token from `key`'s bucket. Returns 0 when it had one, else
   * the milliseconds until it will (nothing is taken then): the retry hint.
   */
  take(key: string): number;
  /** Buckets held (for tests: memory stays bounded). */
  readonly size: number;
}

export interface KeyedTokenBucketsOptions {
  rate: Rate;
  /**
   * Buckets held at most. A full bucket is the same as none, so full ones
   * are dropped first; past that the oldest go (their callers start again
   * with a full burst: lenient, never stricter). Default 100,000.
   */
  maxKeys?: number;
  /** Clock in ms, for tests. Default `performance.now`. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date. */
  at: number;
}

/**
 * Keyed token buckets in one Map: O(1) per `take`, no timers. A rate with
 * `count` 0 means "no limit": every take succeeds and nothing is stored.
 */
export function createKeyedTokenBuckets(options: KeyedTokenBucketsOptions): KeyedTokenBuckets {
  const { count, perMs } = options.rate;
  const maxKeys = options.maxKeys ?? 100_000;
  const now = options.now ?? (() => performance.now());
  const perToken = perMs / count;
  const buckets = new Map<string, Bucket>();

  function refill(bucket: Bucket, t: number): void {
    bucket.tokens = Math.min(count, bucket.tokens + (t - bucket.at) / perToken);
    bucket.at = t;
  }

  /** Makes room for one more bucket: full ones first, then the oldest. */
  function evict(t: number): void {
    const target = Math.floor(maxKeys * 0.9);
    for (const [key, bucket] of buckets) {
      refill(bucket, t);
      if (bucket.tokens >= count) buckets.delete(key);
    }
    for (const key of buckets.keys()) {
      if (buckets.size <= target) break;
      buckets.delete(key);
    }
  }

  if (count <= 0) {
    return { take: () => 0, size: 0 };
  }
  return {
    take(key) {
      const t = now();
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        if (buckets.size >= maxKeys) evict(t);
        bucket = { tokens: count, at: t };
        buckets.set(key, bucket);
      } else {
        refill(bucket, t);
      }
      if (bucket.tokens >= 1) {
        bucket.tokens -= 1;
        return 0;
      }
      return Math.max(1, Math.ceil((1 - bucket.tokens) * perToken));
    },
    get size() {
      return buckets.size;
    },
  };
}
