/** Who came and went between two views of a room's members. */
export interface PresenceChange {
  joined: string[];
  left: string[];
}

/**
 * Turns member lists into join/leave notices. It compares snapshots rather
 * than relaying events so that a reconnect, which rebuilds the member list
 * from scratch, reports only real changes and not everyone leaving and
 * joining again.
 */
export interface PresenceTracker {
  /** Records the current members; returns who joined and who left since the last call. */
  update(names: Iterable<string>): PresenceChange;
}

export function createPresenceTracker(self: string): PresenceTracker {
  let known: Set<string> | undefined;
  return {
    update(names) {
      const now = new Set(names);
      const before = known ?? now;
      known = now;
      const others = (n: string) => n !== self;
      return {
        joined: [...now].filter((n) => !before.has(n) && others(n)).sort(),
        left: [...before].filter((n) => !now.has(n) && others(n)).sort(),
      };
    },
  };
}
