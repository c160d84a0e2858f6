import { luaScript, luaVarint } from "./connect.ts";

/** Lua helpers shared by both scripts. Numbers are doubles: exact up to 2^53, far above any seq. */
const luaCommon = `${luaVarint}
local function field(entry, name)
  local f = entry[2]
  for i = 1, #f, 2 do if f[i] == name then return f[i + 1] end end
end
local function seqOf(id) return tonumber(string.match(id, '^%d+')) end
local function id(seq) return string.format('%.0f-0', seq) end
`;

/**
 * One append, atomically, in the room's slot: room epoch check, age
 * retention, idempotency check, seq = head + 1, XADD `<seq>-0`, head and
 * ids update, count retention, publish, TTL.
 *
 * A log entry has the fields `m` (the full Message bytes: the instance's
 * encoding of room, sender, text and client id, followed by the script's
 * encoding of seq (field 2) and sent_at (field 5); protobuf allows fields in
 * any order), `t` (sent_at ms, for age retention without decoding `m`) and,
 * with a client id, `k` (its ids field, dropped with the entry). The
 * published payload is an `Event` with `message` (field 1) = `m`.
 *
 * KEYS: log, meta, ids. ARGV:
 * epoch, adopt ("1": take over a room of an earlier epoch), sent_at ms,
 * age cutoff ms (0: none), max count, `<sender>\0<clientId>` or "",
 * Message bytes without seq and sent_at, channel, PUBLISH or SPUBLISH,
 * TTL ms for log and ids (0: none). Returns {"ok", seq}, {"dup", M} or
 * {"epoch", the room's epoch}.
 */
export const appendScript = luaScript(String.raw`${luaCommon}
local log, meta, ids = KEYS[1], KEYS[2], KEYS[3]
local epoch, sentAt, cutoff = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
local max, idKey = tonumber(ARGV[5]), ARGV[6]
local roomEpoch = redis.call('HGET', meta, 'epoch')
if roomEpoch and roomEpoch ~= epoch and ARGV[2] ~= '1' then return {'epoch', roomEpoch} end

-- Drops the given oldest entries and, with them, their idempotency keys.
local function drop(entries)
  if #entries == 0 then return end
  for _, e in ipairs(entries) do
    local k = field(e, 'k')
    if k then redis.call('HDEL', ids, k) end
  end
  redis.call('XTRIM', log, 'MINID', id(seqOf(entries[#entries][1]) + 1))
end

if cutoff > 0 then
  repeat
    local expired = {}
    for _, e in ipairs(redis.call('XRANGE', log, '-', '+', 'COUNT', 100)) do
      if tonumber(field(e, 't')) >= cutoff then break end
      expired[#expired + 1] = e
    end
    drop(expired)
  until #expired < 100
end

if idKey ~= '' then
  local seq = redis.call('HGET', ids, idKey)
  if seq then
    local original = redis.call('XRANGE', log, seq .. '-0', seq .. '-0')[1]
    if original then return {'dup', field(original, 'm')} end
  end
end

local seq = tonumber(redis.call('HGET', meta, 'head') or '0') + 1
local seconds = math.floor(sentAt / 1000)
local nanos = (sentAt - seconds * 1000) * 1000000
local ts = ''
if seconds ~= 0 then ts = '\8' .. varint(seconds) end
if nanos ~= 0 then ts = ts .. '\16' .. varint(nanos) end
local m = ARGV[7] .. '\16' .. varint(seq) .. '\42' .. varint(#ts) .. ts
local seqText = string.format('%.0f', seq)
if idKey ~= '' then
  redis.call('XADD', log, id(seq), 'm', m, 't', ARGV[3], 'k', idKey)
  redis.call('HSET', ids, idKey, seqText)
else
  redis.call('XADD', log, id(seq), 'm', m, 't', ARGV[3])
end
redis.call('HSET', meta, 'head', seqText, 'epoch', epoch)
local excess = redis.call('XLEN', log) - max
if excess > 0 then drop(redis.call('XRANGE', log, '-', '+', 'COUNT', excess)) end
redis.call(ARGV[9], ARGV[8], '\10' .. varint(#m) .. m)
if tonumber(ARGV[10]) > 0 then
  redis.call('PEXPIRE', log, ARGV[10])
  redis.call('PEXPIRE', ids, ARGV[10])
end
return {'ok', seqText}
`);

/**
 * Reads, read-only. KEYS: log, meta. ARGV: age cutoff ms (0: none), mode
 * ("after", "before" or "bounds"), seq, limit. The oldest visible entry is
 * the oldest not past the cutoff: entries after it stay visible even if a
 * skewed clock stamped them older, so reads never have holes. Returns
 * {head, first, M...}.
 */
export const readScript = luaScript(`${luaCommon}
local log, cutoff, mode, at, limit = KEYS[1], tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
local head = tonumber(redis.call('HGET', KEYS[2], 'head') or '0')
local first = head + 1
local from = '-'
repeat
  local batch = redis.call('XRANGE', log, from, '+', 'COUNT', 100)
  local found = false
  for _, e in ipairs(batch) do
    if cutoff <= 0 or tonumber(field(e, 't')) >= cutoff then
      first, found = seqOf(e[1]), true
      break
    end
  end
  if found or #batch < 100 then break end
  from = '(' .. batch[#batch][1]
until false

local out = {string.format('%.0f', head), string.format('%.0f', first)}
local entries = {}
if tonumber(limit) <= 0 then
elseif mode == 'after' then
  entries = redis.call('XRANGE', log, id(math.max(at + 1, first)), '+', 'COUNT', limit)
elseif mode == 'before' then
  local last = head
  if at > 0 then last = at - 1 end
  if last >= first then
    local newest = redis.call('XREVRANGE', log, id(last), id(first), 'COUNT', limit)
    for i = #newest, 1, -1 do entries[#entries + 1] = newest[i] end
  end
end
for _, e in ipairs(entries) do out[#out + 1] = field(e, 'm') end
return out
`);
