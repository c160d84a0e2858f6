/**
 * A set whose entries expire unless renewed: who is typing. Typing notices
 * are best effort (a "stopped" notice can be lost), so every entry times out
 * on its own.
 */
export interface ExpiringSet {
  /** Adds or renews `key` for another `ttlMs`. */
  add(key: string): void;
  delete(key: string): void;
  /** Empties the set (and stops its timers). */
  clear(): void;
  values(): ReadonlySet<string>;
}

/** `onChange` runs after every change of membership (not on a mere renewal). */
export function createExpiringSet(
  ttlMs: number,
  onChange: (values: ReadonlySet<string>) => void,
): ExpiringSet {
  const timers = new Map<string, ReturnType<typeof setTimeout>>();
  const values = () => new Set(timers.keys());
  const set: ExpiringSet = {
    add(key) {
      const renewal = timers.has(key);
      clearTimeout(timers.get(key));
      timers.set(
        key,
        setTimeout(() => set.delete(key), ttlMs),
      );
      if (!renewal) onChange(values());
    },
    delete(key) {
      const timer = timers.get(key);
      if (timer === undefined) return;
      clearTimeout(timer);
      timers.delete(key);
      onChange(values());
    },
    clear() {
      if (timers.size === 0) return;
      for (const timer of timers.values()) clearTimeout(timer);
      timers.clear();
      onChange(values());
    },
    values,
  };
  return set;
}
