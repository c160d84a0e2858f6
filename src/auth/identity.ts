/**
 * Who a verified token says the caller is, and which rooms it may use.
 *
 * Claims (all but `sub` optional):
 * - `sub`: the subject, a non-empty string. Rate limits count per subject.
 * - `name`: the display name the caller speaks as (sender, presence name,
 *   typing name). Default: `sub`. The issuer must keep names unique per
 *   person: two tokens with the same name speak as the same person.
 * - `rooms`: room patterns the caller may read and write.
 * - `read_rooms`: further patterns the caller may only read.
 * - `write_rooms`: further patterns the caller may only write (a bot that
 *   posts without reading).
 *
 * A pattern is a room name in which `*` stands for any run of characters:
 * `"lobby"`, `"team-*"`, `"*"` (every room). With no room claim at all the
 * token grants no room: access is denied by default.
 */
export interface Identity {
  /** The name this caller speaks as: the `name` claim, else `sub`. */
  readonly name: string;
  /** The token's subject. */
  readonly sub: string;
  /** When the token expires (its `exp`); absent for a token without one. */
  readonly expiresAt?: Date;
  /** Whether the caller may subscribe to, page through and list `room`. */
  canRead(room: string): boolean;
  /** Whether the caller may post and send typing notices to `room`. */
  canWrite(room: string): boolean;
}

/** A token whose claims do not describe an identity (wrong types, empty sub). */
export class InvalidClaimsError extends Error {
  override name = "InvalidClaimsError";
}

/** Compiles room patterns into one matcher; no pattern matches nothing. */
export function roomMatcher(patterns: readonly string[]): (room: string) => boolean {
  if (patterns.length === 0) return () => false;
  if (patterns.includes("*")) return () => true;
  const source = patterns
    .map((p) =>
      p
        .split("*")
        .map((part) => part.replace(/[\\^$.|?+()[\]{}-]/g, "\\$&"))
        .join(".*"),
    )
    .join("|");
  const regex = new RegExp(`^(?:${source})$`);
  return (room) => regex.test(room);
}

function stringList(payload: Record<string, unknown>, claim: string): string[] {
  const value = payload[claim];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new InvalidClaimsError(`claim ${claim} must be an array of strings`);
  }
  return value;
}

/**
 * The identity a verified payload describes. Throws {@link InvalidClaimsError}
 * when the claims have the wrong shape, so that a malformed token never
 * turns into broader access than intended.
 */
export function identityFromClaims(payload: Record<string, unknown>): Identity {
  const { sub, name, exp } = payload;
  if (typeof sub !== "string" || sub.trim() === "") {
    throw new InvalidClaimsError("claim sub must be a non-empty string");
  }
  if (name !== undefined && (typeof name !== "string" || name.trim() === "")) {
    throw new InvalidClaimsError("claim name must be a non-empty string");
  }
  const both = stringList(payload, "rooms");
  const canRead = roomMatcher([...both, ...stringList(payload, "read_rooms")]);
  const canWrite = roomMatcher([...both, ...stringList(payload, "write_rooms")]);
  return {
    name: typeof name === "string" ? name : sub,
    sub,
    ...(typeof exp === "number" ? { expiresAt: new Date(exp * 1000) } : {}),
    canRead,
    canWrite,
  };
}
