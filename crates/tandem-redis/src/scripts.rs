//! The Lua scripts: each runs atomically in Redis, so numbering, storing and announcing a
//! message (or a member change) is one step for the whole cluster.
//!
//! Every script touches the keys of **one room** (all under the room's hash tag, so one
//! slot of a Redis Cluster) or the node registry (`{nodes}`), and declares them in `KEYS`.
//! A room's announcements go out on its own channel (`ARGV[1]`) with `ARGV[2]`: `SPUBLISH`
//! on a Redis Cluster (sharded pub/sub, the channel lives on the room's shard) or
//! `PUBLISH` on one Redis. Time is Redis's own (`TIME`), so every node agrees on a
//! message's age.

use redis::Script;

/// Shared by the room scripts: the clock, announcing on the room's channel, and trimming a
/// history list by count, age and bytes (kept beside the list, frames plus 64 bytes per
/// entry, as the hub counts them).
const PRELUDE: &str = r#"
local channel, pub = ARGV[1], ARGV[2]
local function announce(message)
  redis.call(pub, channel, message)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function trim(hist, hb, maxlen, age, maxbytes, now)
  local n = redis.call('LLEN', hist)
  local bytes = tonumber(redis.call('GET', hb) or '0')
  while n > 0 do
    local e = redis.call('LINDEX', hist, 0)
    local a = string.find(e, ' ', 1, true)
    local b = string.find(e, ' ', a + 1, true)
    local young = tonumber(string.sub(e, a + 1, b - 1)) >= now - age
    if n <= maxlen and bytes <= maxbytes and young then break end
    redis.call('LPOP', hist)
    n = n - 1
    bytes = bytes - (#e - b) - 64
  end
  if n == 0 then bytes = 0 end
  redis.call('SET', hb, bytes, 'KEEPTTL')
end
-- One node's user leaves the room (`np` holds `<#node>:<node><user>` per node and user).
local function depart(np, pc, pm, room, node, user)
  if redis.call('SREM', np, #node .. ':' .. node .. user) == 1 then
    local c = redis.call('HINCRBY', pc, user, -1)
    if c <= 0 then
      redis.call('HDEL', pc, user)
      redis.call('HDEL', pm, user)
      announce('L' .. #room .. ':' .. room .. user)
    end
  end
end
"#;

/// Numbers, stores and announces one message. KEYS: room, hist, hb. ARGV: channel,
/// publish command, room, event head, event tail, history length, history age (ms), an
/// epoch for a new room, history bytes. Returns the sequence number.
const PUBLISH: &str = r#"
local room = ARGV[3]
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[8])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local frame = ARGV[4] .. seq .. ARGV[5]
local maxlen = tonumber(ARGV[6])
if maxlen > 0 then
  local now = now_ms()
  if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('SET', KEYS[3], 0) end
  redis.call('RPUSH', KEYS[2], seq .. ' ' .. now .. ' ' .. frame)
  redis.call('INCRBY', KEYS[3], #frame + 64)
  trim(KEYS[2], KEYS[3], maxlen, tonumber(ARGV[7]), tonumber(ARGV[9]), now)
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
end
announce('E' .. epoch .. ' ' .. seq .. ' ' .. #room .. ':' .. room .. frame)
return seq
"#;

/// Counts an arrival (when asked) and returns the room: epoch, seq, the retained events the
/// joiner needs (`seq ms frame`), members (user, meta, ...); or `full` when the arrival
/// would put the room over its member limit. KEYS: room, hist, hb, pm, pc, np. ARGV:
/// channel, publish command, room, user, meta, arrive ("1"/"0"), node, history length,
/// history age (ms), an epoch for a new room, history bytes, what the joiner needs:
/// `a<epoch>:<seq>` (a resume: the events after seq, or every retained one when the epoch
/// differs or seq has aged out) or `n<count>` (a fresh join: the last count), and the
/// member limit (0: none).
const SYNC: &str = r#"
local room, user, node = ARGV[3], ARGV[4], ARGV[7]
local max = tonumber(ARGV[13])
if ARGV[6] == '1' and max > 0 and redis.call('HEXISTS', KEYS[5], user) == 0
    and redis.call('HLEN', KEYS[5]) >= max then
  return 'full'
end
if ARGV[6] == '1' then
  if redis.call('SADD', KEYS[6], #node .. ':' .. node .. user) == 1 then
    local c = redis.call('HINCRBY', KEYS[5], user, 1)
    -- The first node's join gives the meta; later ones keep it (and any update since).
    if c == 1 then
      redis.call('HSET', KEYS[4], user, ARGV[5])
      announce('J' .. #room .. ':' .. room .. #user .. ':' .. user .. ARGV[5])
    end
  end
end
redis.call('HSETNX', KEYS[1], 'epoch', ARGV[10])
local epoch = redis.call('HGET', KEYS[1], 'epoch')
local seq = redis.call('HGET', KEYS[1], 'seq') or '0'
local entries = {}
local maxlen = tonumber(ARGV[8])
if maxlen > 0 then
  trim(KEYS[2], KEYS[3], maxlen, tonumber(ARGV[9]), tonumber(ARGV[11]), now_ms())
  local want = ARGV[12]
  local start = 0
  if string.sub(want, 1, 1) == 'n' then
    start = -tonumber(string.sub(want, 2))
  else
    local colon = string.find(want, ':', 1, true)
    local first = redis.call('LINDEX', KEYS[2], 0)
    if first and string.sub(want, 2, colon - 1) == epoch then
      local after = tonumber(string.sub(want, colon + 1))
      local oldest = tonumber(string.sub(first, 1, string.find(first, ' ', 1, true) - 1))
      start = math.max(0, after + 1 - oldest)
    end
  end
  if start ~= 0 or string.sub(want, 1, 1) == 'a' then
    entries = redis.call('LRANGE', KEYS[2], start, -1)
  end
end
return {epoch, seq, entries, redis.call('HGETALL', KEYS[4])}
"#;

/// A member's new presence metadata: recorded and announced, if the member is there.
/// KEYS: pm, pc. ARGV: channel, publish command, room, user, meta. Returns 1, or 0 when
/// the user is not a member.
const UPDATE: &str = r#"
local room, user = ARGV[3], ARGV[4]
if redis.call('HEXISTS', KEYS[2], user) == 0 then return 0 end
redis.call('HSET', KEYS[1], user, ARGV[5])
announce('U' .. #room .. ':' .. room .. #user .. ':' .. user .. ARGV[5])
return 1
"#;

/// A page of a room's history: the newest `limit` entries with a seq below `before`,
/// after trimming what aged out. KEYS: room, hist, hb. ARGV: channel, publish command,
/// before (empty: from the newest), limit, history length, history age (ms), history
/// bytes. Returns the epoch (0 for a room Redis does not know), 1 if older entries exist
/// (else 0), then the entries (`seq ms frame`), oldest first. Seqs in the list are
/// consecutive (every message is pushed, the oldest popped), so an entry's index is its
/// seq minus the oldest one's.
const HISTORY: &str = r#"
local epoch = redis.call('HGET', KEYS[1], 'epoch') or '0'
if redis.call('EXISTS', KEYS[2]) == 1 then
  trim(KEYS[2], KEYS[3], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), now_ms())
end
local first = redis.call('LINDEX', KEYS[2], 0)
if not first then return {epoch, 0} end
local oldest = tonumber(string.sub(first, 1, string.find(first, ' ', 1, true) - 1))
local n = redis.call('LLEN', KEYS[2])
local stop = n
if ARGV[3] ~= '' then stop = math.max(0, math.min(n, tonumber(ARGV[3]) - oldest)) end
local start = math.max(0, stop - tonumber(ARGV[4]))
local out = {epoch, start > 0 and 1 or 0}
if stop > start then
  for _, e in ipairs(redis.call('LRANGE', KEYS[2], start, stop - 1)) do table.insert(out, e) end
end
return out
"#;

/// One node's user has no connection left in a room. KEYS: np, pc, pm. ARGV: channel,
/// publish command, room, node, user.
const DEPART: &str = r#"
depart(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[4], ARGV[5])
return 1
"#;

/// Every user a node held in a room leaves (the node died, or lost Redis and sent its
/// clients away). KEYS: np, pc, pm. ARGV: channel, publish command, room, node. Returns
/// how many users of the node were there.
const REAP: &str = r#"
local room, node = ARGV[3], ARGV[4]
local head = #node .. ':' .. node
local gone = 0
for _, e in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if string.sub(e, 1, #head) == head then
    depart(KEYS[1], KEYS[2], KEYS[3], room, node, string.sub(e, #head + 1))
    gone = gone + 1
  end
end
return gone
"#;

/// Renews a node's liveness and returns the nodes whose liveness ran out (to reap). KEYS:
/// the registry (`{nodes}:alive`, node → deadline in ms). ARGV: node, liveness (ms).
const BEAT: &str = r#"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], now + tonumber(ARGV[2]))
local dead = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < now then table.insert(dead, all[i]) end
end
return dead
"#;

/// A failover lost acknowledged messages of the room (its seq is below what nodes saw):
/// a new epoch, so every client resumes knowing it may have missed messages (the seq
/// goes on from where the promoted replica had it, so the history stays consecutive).
/// KEYS: room.
/// ARGV: the newest seq seen, a new epoch. Returns the room's epoch.
const REWIND: &str = r#"
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if seq < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2])
end
return redis.call('HGET', KEYS[1], 'epoch')
"#;

/// The compiled scripts (each knows its SHA1 for `EVALSHA`).
pub(crate) struct Scripts {
    pub publish: Script,
    pub sync: Script,
    pub depart: Script,
    pub update: Script,
    pub history: Script,
    pub reap: Script,
    pub beat: Script,
    pub rewind: Script,
}

impl Scripts {
    pub fn new() -> Self {
        let with_prelude = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        Scripts {
            publish: with_prelude(PUBLISH),
            sync: with_prelude(SYNC),
            depart: with_prelude(DEPART),
            update: with_prelude(UPDATE),
            history: with_prelude(HISTORY),
            reap: with_prelude(REAP),
            beat: Script::new(BEAT),
            rewind: Script::new(REWIND),
        }
    }

    /// Every script, for `SCRIPT LOAD` after Redis lost them (a restart, a failover).
    pub fn all(&self) -> [&Script; 8] {
        [
            &self.publish,
            &self.sync,
            &self.depart,
            &self.update,
            &self.history,
            &self.reap,
            &self.beat,
            &self.rewind,
        ]
    }
}
