import { createKeyedTokenBuckets, type Rate } from "../rate-limit/token-bucket.ts";

/** What {@link IpGuard.admit} needs of a socket: where it comes from, and when it is gone. */
export interface AdmittedSocket {
  remoteAddress?: string | undefined;
  once(event: "close", listener: () => void): unknown;
}

export interface IpGuardOptions {
  /** Open connections one IP address may hold; more are closed at accept. 0: no limit. Default 256. */
  maxConnectionsPerIp?: number;
  /**
   * HTTP/2 streams that the clients of one IP address may reset, over all their sessions:
   * a burst of `count`, refilled at `count` per `perMs`. Default 1000 per 10 s.
   */
  streamResets?: Rate;
  /** How long an IP address that spent its reset budget is refused new connections. Default 10 s. */
  cooldownMs?: number;
  /** Clock in ms, for tests. Default `performance.now`. */
  now?: () => number;
}

/** Per-IP limits that no single connection can see: connections held, and HTTP/2 resets over reconnects. */
export interface IpGuard {
  /**
   * Decides on a new connection: false when its IP holds `maxConnectionsPerIp` already or is
   * cooling down (the caller closes it). Else it counts until the socket closes.
   */
  admit(socket: AdmittedSocket): boolean;
  /**
   * Charges one stream reset by a client at `ip`. False when the budget is spent: the caller
   * closes that session (GOAWAY ENHANCE_YOUR_CALM), and new connections from `ip` are refused
   * for `cooldownMs`.
   */
  chargeReset(ip: string | undefined): boolean;
  /** Whether new connections from `ip` are refused for now. */
  isCoolingDown(ip: string | undefined): boolean;
  /** Open connections from `ip`. */
  connectionsOf(ip: string): number;
}

export const defaultMaxConnectionsPerIp = 256;

/** Cooling-down addresses kept at most; the oldest are forgotten first (lenient, never stricter). */
const maxCoolingDown = 100_000;

/**
 * One IP address's key: IPv4 clients of a dual-stack server show as `::ffff:a.b.c.d`.
 * (An IPv6 client usually owns a whole /64; each of its addresses counts on its own here.)
 */
export function ipKey(address: string | undefined): string {
  if (address === undefined) return "unknown";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

/**
 * Limits are far above what legitimate clients do: a browser or a NAT of many users opens
 * a few connections each and cancels a stream when a user leaves a room; a rapid-reset
 * attacker (CVE-2023-44487) resets thousands a second and reconnects whenever one session
 * is closed, which is why the reset budget belongs to the address, not the session.
 */
export function createIpGuard(options: IpGuardOptions = {}): IpGuard {
  const maxPerIp = options.maxConnectionsPerIp ?? defaultMaxConnectionsPerIp;
  const cooldownMs = options.cooldownMs ?? 10_000;
  const now = options.now ?? (() => performance.now());
  const resets = createKeyedTokenBuckets({
    rate: options.streamResets ?? { count: 1000, perMs: 10_000 },
    now,
  });
  const open = new Map<string, number>();
  /** Address → when it may connect again. */
  const coolingDown = new Map<string, number>();

  const isCoolingDown = (ip: string): boolean => {
    const until = coolingDown.get(ip);
    if (until === undefined) return false;
    if (now() < until) return true;
    coolingDown.delete(ip);
    return false;
  };

  const coolDown = (ip: string): void => {
    if (coolingDown.size >= maxCoolingDown) {
      const t = now();
      for (const [key, until] of coolingDown) if (until <= t) coolingDown.delete(key);
      const oldest = coolingDown.keys().next();
      if (coolingDown.size >= maxCoolingDown && !oldest.done) coolingDown.delete(oldest.value);
    }
    coolingDown.delete(ip);
    coolingDown.set(ip, now() + cooldownMs);
  };

  return {
    admit(socket) {
      const ip = ipKey(socket.remoteAddress);
      const held = open.get(ip) ?? 0;
      if (isCoolingDown(ip) || (maxPerIp > 0 && held >= maxPerIp)) return false;
      open.set(ip, held + 1);
      socket.once("close", () => {
        const left = (open.get(ip) ?? 1) - 1;
        if (left > 0) open.set(ip, left);
        else open.delete(ip);
      });
      return true;
    },
    chargeReset(address) {
      const ip = ipKey(address);
      if (resets.take(ip) === 0) return true;
      coolDown(ip);
      return false;
    },
    isCoolingDown(address) {
      return isCoolingDown(ipKey(address));
    },
    connectionsOf(ip) {
      return open.get(ipKey(ip)) ?? 0;
    },
  };
}
