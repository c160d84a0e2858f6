import { randomUUID } from "node:crypto";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Presence } from "../../core/presence.ts";
import { createSubscriptionCounts } from "../../core/subscription-counts.ts";
import { EventSchema, type Member, MemberSchema } from "../../gen/chat/v1/chat_pb.ts";
import { type LuaScript, luaScript, luaVarint, type RedisConnection } from "./connect.ts";
import { mapError } from "./connection-errors.ts";
import { defaultPrefix, roomChannel, roomTag } from "./keys.ts";

/** How long a crashed instance's members stay listed at most (see `leaseMs`). */
export const defaultPresenceLeaseMs = 15_000;

export interface RedisPresenceOptions {
  connection: RedisConnection;
  prefix?: string;
  /**
   * How long an instance's members outlive its last lease renewal: a
   * crashed instance's members are gone from `members` this long after its
   * last renewal at the latest. Renewed every third of it. Default 15 s.
   */
  leaseMs?: number;
  /** Told about failed presence updates (never thrown: presence is best effort). */
  onError?: (error: unknown, what: string) => void;
}

/**
 * Presence shared by every instance on one Redis.
 *
 * Each room has a sorted set of entries `<name>\0<instance>\0<since>`, scored
 * by the time their lease ends (Redis time, so instance clocks do not
 * matter). A name is in the room while it has an entry whose lease runs. The
 * Lua scripts decide "new to the room" and "gone from the room" where every
 * instance's entries are visible, and publish `memberJoined`/`memberLeft` on
 * the room's channel in the same atomic step, so every instance hears one
 * announcement, in the room's order.
 *
 * A live instance renews its entries every `leaseMs / 3`. The renewal also
 * sweeps entries whose lease ran out (a crashed instance's) and announces
 * their names as gone. So a crashed instance's members leave `members`
 * within `leaseMs`, and `memberLeft` reaches the room within `leaseMs` plus
 * one renewal period, whenever some live instance has members in that room.
 */
export function createRedisPresence({
  connection,
  prefix = defaultPrefix,
  leaseMs = defaultPresenceLeaseMs,
  onError = () => {},
}: RedisPresenceOptions): Presence {
  const instance = randomUUID();
  const publish = connection.redis.kind === "cluster" ? "SPUBLISH" : "PUBLISH";
  /** This instance's members: their open subscriptions and entries, per room and name. */
  const mine = createSubscriptionCounts<string>();
  /** Rooms whose last local member left: renewed once more with no entries, then forgotten. */
  const emptied = new Set<string>();
  const key = (room: string) => `${prefix}:{${roomTag(room)}}:presence`;

  // Scripts are loaded ahead, so none takes EVALSHA's NOSCRIPT detour
  // through EVAL, which would let a later call (a leave) overtake it (its
  // join). A Redis that restarted has forgotten them: loaded again then.
  const scripts = [joinScript, leaveScript, renewScript, leaveAllScript, membersScript];
  const load = () => Promise.all(scripts.map((script) => connection.loadScript(script)));
  let loaded = load();
  loaded.catch((e: unknown) => onError(e, "loading scripts"));

  /** Runs a script after the scripts are loaded, in call order. */
  function call(script: LuaScript, room: string, args: (string | Buffer)[]): Promise<unknown> {
    return loaded.then(() => connection.script(script, [key(room)], args));
  }

  function run(script: LuaScript, room: string, args: (string | Buffer)[], what: string) {
    call(script, room, [roomChannel(prefix, room), publish, String(leaseMs), ...args]).catch(
      (e: unknown) => onError(e, `${what} in room ${room}`),
    );
  }

  function renew(): void {
    for (const room of mine.rooms()) {
      run(renewScript, room, [instance, ...mine.values(room)], "renew");
    }
    for (const room of emptied) run(renewScript, room, [instance], "renew");
    emptied.clear();
  }
  const timer = setInterval(renew, Math.max(1, Math.floor(leaseMs / 3)));
  // A lease timer, not work: it must not keep a stopping process alive.
  timer.unref?.();
  // After an outage, renew at once: entries may have expired or been lost.
  const stopListening = connection.onStatus((up) => {
    if (!up) return;
    loaded = load();
    loaded.then(renew, (e: unknown) => onError(e, "loading scripts"));
  });

  return {
    join(room, name) {
      emptied.delete(room);
      const since = Date.now();
      const entry = mine.add(room, name, () => `${name}\0${instance}\0${since}`);
      if (entry === undefined) return;
      const member = create(MemberSchema, { name, since: timestampFromMs(since) });
      const joined = toBinary(
        EventSchema,
        create(EventSchema, { kind: { case: "memberJoined", value: { member } } }),
      );
      run(joinScript, room, [entry, name, Buffer.from(joined)], "join");
    },

    leave(room, name) {
      const entry = mine.remove(room, name);
      if (entry === undefined) return;
      if (!mine.has(room)) emptied.add(room);
      run(leaveScript, room, [entry, name], "leave");
    },

    async members(room) {
      try {
        const entries = (await call(membersScript, room, [])) as Buffer[];
        return membersOf(entries.map(String));
      } catch (e) {
        mapError(e);
      }
    },

    async close() {
      clearInterval(timer);
      stopListening();
      // Withdraw this instance's members now rather than after their lease.
      const leaving = [...mine.rooms()].map((room) =>
        call(leaveAllScript, room, [roomChannel(prefix, room), publish, instance]).catch(
          (e: unknown) => onError(e, `leave room ${room}`),
        ),
      );
      mine.clear();
      await Promise.all(leaving);
    },
  };
}

/** One member per name (the earliest `since`), ordered by name. */
function membersOf(entries: string[]): Member[] {
  const since = new Map<string, number>();
  for (const entry of entries) {
    const [name = "", , at = "0"] = entry.split("\0");
    const ms = Number(at);
    const seen = since.get(name);
    if (seen === undefined || ms < seen) since.set(name, ms);
  }
  return [...since]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, ms]) => create(MemberSchema, { name, since: timestampFromMs(ms) }));
}
/**
 * Shared Lua: Redis time in ms; whether `name` has a live entry; the
 * protobuf bytes of an Event{memberLeft{name}} (field 4, and MemberLeft's
 * field 1, both length-delimited); announcing `memberLeft` for a name with
 * no live entry left (ARGV[1] and ARGV[2] are the channel and the publish
 * command in every script).
 */
const common = `${luaVarint}
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function left_event(name)
  local inner = '\\10' .. varint(#name) .. name
  return '\\34' .. varint(#inner) .. inner
end
local function name_of(entry)
  return string.sub(entry, 1, (string.find(entry, '\\0', 1, true) or (#entry + 1)) - 1)
end
local function present(key, name, now)
  for _, e in ipairs(redis.call('ZRANGEBYSCORE', key, now, '+inf')) do
    if name_of(e) == name then return true end
  end
  return false
end
local function touch(key, lease)
  redis.call('PEXPIRE', key, lease * 2)
end
local function announce_if_gone(key, name, now)
  if not present(key, name, now) then redis.call(ARGV[2], ARGV[1], left_event(name)) end
end
`;

/** KEYS: presence. ARGV: channel, publish command, lease, entry, name, joined event. */
const joinScript = luaScript(`${common}
local now = now_ms()
local lease = tonumber(ARGV[3])
local new = not present(KEYS[1], ARGV[5], now)
redis.call('ZADD', KEYS[1], now + lease, ARGV[4])
touch(KEYS[1], lease)
if new then redis.call(ARGV[2], ARGV[1], ARGV[6]) end
return new and 1 or 0
`);

/** KEYS: presence. ARGV: channel, publish command, lease, entry, name. */
const leaveScript = luaScript(`${common}
local now = now_ms()
redis.call('ZREM', KEYS[1], ARGV[4])
announce_if_gone(KEYS[1], ARGV[5], now)
return 1
`);

/**
 * KEYS: presence. ARGV: channel, publish command, lease, instance, then the
 * instance's current entries. Drops the instance's other entries (leaves
 * that failed while Redis was away) and every expired entry, renews the
 * current ones, and announces the names that are gone.
 */
const renewScript = luaScript(`${common}
local now = now_ms()
local lease = tonumber(ARGV[3])
local mine = {}
for i = 5, #ARGV do mine[ARGV[i]] = true end
local marker = '\\0' .. ARGV[4] .. '\\0'
local gone = {}
local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
for i = 1, #all, 2 do
  local e, score = all[i], tonumber(all[i + 1])
  local stale = score < now or (string.find(e, marker, 1, true) and not mine[e])
  if stale then
    redis.call('ZREM', KEYS[1], e)
    gone[name_of(e)] = true
  end
end
for e in pairs(mine) do redis.call('ZADD', KEYS[1], now + lease, e) end
if next(mine) ~= nil then touch(KEYS[1], lease) end
for name in pairs(gone) do announce_if_gone(KEYS[1], name, now) end
return 1
`);

/** KEYS: presence. ARGV: channel, publish command, instance. The instance shuts down. */
const leaveAllScript = luaScript(`${common}
local now = now_ms()
local marker = '\\0' .. ARGV[3] .. '\\0'
local gone = {}
for _, e in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if string.find(e, marker, 1, true) then
    redis.call('ZREM', KEYS[1], e)
    gone[name_of(e)] = true
  end
end
for name in pairs(gone) do announce_if_gone(KEYS[1], name, now) end
return 1
`);

/** KEYS: presence. The live entries. */
const membersScript = luaScript(`${common}
return redis.call('ZRANGEBYSCORE', KEYS[1], now_ms(), '+inf')
`);
