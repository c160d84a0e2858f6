import type { Rate } from "../rate-limit/token-bucket.ts";

/**
 * How one kind of setting is read from a flag or an environment variable, and written back
 * as a user would type it (for `--help` and docs/configuration.md). `name` is how an error
 * message names the option, e.g. `--port (PORT)`: every bad value is reported before the
 * server is built, as one line.
 */
export interface Kind<T> {
  parse(raw: string, name: string): T;
  show(value: T): string;
}

/** Any text: an address, a path, a URL checked where it is used. */
export const text: Kind<string> = { parse: (raw) => raw, show: (value) => value };

/** One of `values`, spelt exactly. */
export function choice<const C extends string>(values: readonly C[]): Kind<C> {
  return {
    parse(raw, name) {
      const found = values.find((value) => value === raw);
      if (found === undefined) {
        throw new Error(`${name} must be one of ${values.join(", ")}, got ${JSON.stringify(raw)}`);
      }
      return found;
    },
    show: (value) => value,
  };
}

/**
 * The longest delay a timer takes (Node's setTimeout): a longer one fires at once, with a
 * warning. Settings that become timers are bounded by it.
 */
export const maxTimerMs = 2 ** 31 - 1;

/** Bounds that a library or Node would otherwise enforce by throwing while the app is built. */
interface Bounds {
  min?: number;
  max?: number;
}

function checkBounds(n: number, { min = 0, max = Number.MAX_SAFE_INTEGER }: Bounds, name: string) {
  if (n < min) throw new Error(`${name} must be at least ${min}, got ${n}`);
  if (n > max) throw new Error(`${name} must be at most ${max}, got ${n}`);
}

/** A non-negative integer, within `bounds` (a port, a limit that Node checks itself). */
export function int(bounds: Bounds = {}): Kind<number> {
  return {
    parse(raw, name) {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0) {
        throw new Error(`${name} must be a non-negative integer, got ${JSON.stringify(raw)}`);
      }
      checkBounds(n, bounds, name);
      return n;
    },
    show: String,
  };
}

/** Largest first: `show` picks the largest unit that divides a value evenly. */
const durationUnits: Array<[string, number]> = [
  ["d", 86_400_000],
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1000],
  ["ms", 1],
];

function toMs(amount: string, unit: string | undefined): number {
  // A bare number is in milliseconds (and 0 needs no unit).
  const ms = durationUnits.find(([u]) => u === (unit ?? "ms"))?.[1] ?? 1;
  return Number(amount) * ms;
}

function showMs(ms: number): string {
  if (ms === 0) return "0";
  const [unit, size] = durationUnits.find(([, size]) => ms % size === 0) ?? ["ms", 1];
  return `${ms / size}${unit}`;
}

/** A duration in milliseconds, written `0`, `500ms`, `15s`, `30m`, `12h` or `90d`, within `bounds`. */
export function duration(bounds: Bounds = {}): Kind<number> {
  return {
    parse(raw, name) {
      const match = /^(\d+)(ms|s|m|h|d)?$/.exec(raw);
      if (match === null || !Number.isSafeInteger(Number(match[1]))) {
        throw new Error(
          `${name} must be a duration such as 0, 500ms, 15s, 30m, 12h or 90d, got ${JSON.stringify(raw)}`,
        );
      }
      const ms = toMs(match[1] ?? "", match[2]);
      checkBounds(ms, bounds, name);
      return ms;
    },
    show: showMs,
  };
}

/** `COUNT/DURATION` (`30/1m`, `5/s`: a burst of COUNT refilled over DURATION), or `0` for no limit. */
export const rate: Kind<Rate> = {
  parse(raw, name) {
    if (raw === "0") return { count: 0, perMs: 1000 };
    const match = /^(\d+)\/(\d*)(ms|s|m|h|d)?$/.exec(raw);
    const count = Number(match?.[1]);
    const perMs = match === null ? 0 : toMs(match[2] || "1", match[3]);
    if (!Number.isSafeInteger(count) || !Number.isSafeInteger(perMs) || perMs <= 0) {
      throw new Error(
        `${name} must be a rate such as 1000/10s, 30/1m or 5/s (0: no limit), got ${JSON.stringify(raw)}`,
      );
    }
    return { count, perMs };
  },
  show: ({ count, perMs }) => `${count}/${showMs(perMs)}`,
};

/** Comma-separated exact origins (scheme://host[:port]): a typo must not widen CORS. */
export const origins: Kind<string[]> = {
  parse(raw, name) {
    const list = raw
      .split(",")
      .map((part) => part.trim())
      .filter((part) => part !== "");
    for (const origin of list) {
      if (!isOrigin(origin)) {
        throw new Error(
          `${name} takes origins such as https://chat.example.com (scheme, host, optional port; no path or trailing slash), got ${JSON.stringify(origin)}`,
        );
      }
    }
    return list;
  },
  show: (list) => list.join(","),
};

function isOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    return /^https?:$/.test(url.protocol) && url.origin === origin;
  } catch {
    return false;
  }
}
