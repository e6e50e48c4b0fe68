//! The Lua scripts: each runs atomically in Redis, so numbering, storing and announcing a
//! message (or a member change) is one step for the whole cluster.
//!
//! `ARGV[1]` is always the key prefix. Time is Redis's own (`TIME`), so every node agrees
//! on a message's age.

use redis::Script;

/// Shared by every script: departures (one node's, or all of a node's), the clock, and
/// trimming a history list by count, age and bytes (kept beside the list in `hb:<room>`,
/// frames plus 64 bytes per entry, as the hub counts them).
const PRELUDE: &str = r#"
local p = ARGV[1]
local function depart(node, room, user)
  if redis.call('SREM', p .. ':np:' .. node, #room .. ':' .. room .. user) == 1 then
    local c = redis.call('HINCRBY', p .. ':pc:' .. room, user, -1)
    if c <= 0 then
      redis.call('HDEL', p .. ':pc:' .. room, user)
      redis.call('HDEL', p .. ':pm:' .. room, user)
      redis.call('PUBLISH', p .. ':bus', 'L' .. #room .. ':' .. room .. user)
    end
  end
end
local function depart_all(node)
  for _, e in ipairs(redis.call('SMEMBERS', p .. ':np:' .. node)) do
    local i = string.find(e, ':', 1, true)
    local n = tonumber(string.sub(e, 1, i - 1))
    depart(node, string.sub(e, i + 1, i + n), string.sub(e, i + n + 1))
  end
  redis.call('DEL', p .. ':np:' .. node)
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function trim(room, maxlen, age, maxbytes, now)
  local hist, hb = p .. ':hist:' .. room, p .. ':hb:' .. room
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
"#;

/// Numbers, stores and announces one message. ARGV: prefix, room, event head, event tail,
/// history length, history age (ms), an epoch for a new room, history bytes. Returns the
/// sequence number.
const PUBLISH: &str = r#"
local room = ARGV[2]
local meta = p .. ':room:' .. room
redis.call('HSETNX', meta, 'epoch', ARGV[7])
local epoch = redis.call('HGET', meta, 'epoch')
local seq = redis.call('HINCRBY', meta, 'seq', 1)
local frame = ARGV[3] .. seq .. ARGV[4]
local maxlen = tonumber(ARGV[5])
if maxlen > 0 then
  local hist, hb = p .. ':hist:' .. room, p .. ':hb:' .. room
  local now = now_ms()
  if redis.call('EXISTS', hist) == 0 then redis.call('SET', hb, 0) end
  redis.call('RPUSH', hist, seq .. ' ' .. now .. ' ' .. frame)
  redis.call('INCRBY', hb, #frame + 64)
  trim(room, maxlen, tonumber(ARGV[6]), tonumber(ARGV[8]), now)
  redis.call('PEXPIRE', hist, ARGV[6])
  redis.call('PEXPIRE', hb, ARGV[6])
end
redis.call('PUBLISH', p .. ':bus', 'E' .. epoch .. ' ' .. seq .. ' ' .. #room .. ':' .. room .. frame)
return seq
"#;

/// Counts an arrival (when asked) and returns the room: epoch, seq, the retained events the
/// joiner needs (`seq ms frame`), members (user, meta, ...); or `full` when the arrival
/// would put the room over its member limit. ARGV: prefix, room, user, meta, arrive
/// ("1"/"0"), node, history length, history age (ms), an epoch for a new room, history
/// bytes, what the joiner needs: `a<epoch>:<seq>` (a resume: the events after seq, or
/// every retained one when the epoch differs or seq has aged out) or `n<count>` (a fresh
/// join: the last count), and the member limit (0: none).
const SYNC: &str = r#"
local room, user = ARGV[2], ARGV[3]
local max = tonumber(ARGV[12])
if ARGV[5] == '1' and max > 0 and redis.call('HEXISTS', p .. ':pc:' .. room, user) == 0
    and redis.call('HLEN', p .. ':pc:' .. room) >= max then
  return 'full'
end
if ARGV[5] == '1' then
  if redis.call('SADD', p .. ':np:' .. ARGV[6], #room .. ':' .. room .. user) == 1 then
    local c = redis.call('HINCRBY', p .. ':pc:' .. room, user, 1)
    -- The first node's join gives the meta; later ones keep it (and any update since).
    if c == 1 then
      redis.call('HSET', p .. ':pm:' .. room, user, ARGV[4])
      redis.call('PUBLISH', p .. ':bus', 'J' .. #room .. ':' .. room .. #user .. ':' .. user .. ARGV[4])
    end
  end
end
local meta = p .. ':room:' .. room
redis.call('HSETNX', meta, 'epoch', ARGV[9])
local epoch = redis.call('HGET', meta, 'epoch')
local seq = redis.call('HGET', meta, 'seq') or '0'
local entries = {}
local maxlen = tonumber(ARGV[7])
if maxlen > 0 then
  local hist = p .. ':hist:' .. room
  trim(room, maxlen, tonumber(ARGV[8]), tonumber(ARGV[10]), now_ms())
  local want = ARGV[11]
  local start = 0
  if string.sub(want, 1, 1) == 'n' then
    start = -tonumber(string.sub(want, 2))
  else
    local colon = string.find(want, ':', 1, true)
    local first = redis.call('LINDEX', hist, 0)
    if first and string.sub(want, 2, colon - 1) == epoch then
      local after = tonumber(string.sub(want, colon + 1))
      local oldest = tonumber(string.sub(first, 1, string.find(first, ' ', 1, true) - 1))
      start = math.max(0, after + 1 - oldest)
    end
  end
  if start ~= 0 or string.sub(want, 1, 1) == 'a' then
    entries = redis.call('LRANGE', hist, start, -1)
  end
end
return {epoch, seq, entries, redis.call('HGETALL', p .. ':pm:' .. room)}
"#;

/// A member's new presence metadata: recorded and announced, if the member is there.
/// ARGV: prefix, room, user, meta. Returns 1, or 0 when the user is not a member.
const UPDATE: &str = r#"
local room, user = ARGV[2], ARGV[3]
if redis.call('HEXISTS', p .. ':pc:' .. room, user) == 0 then return 0 end
redis.call('HSET', p .. ':pm:' .. room, user, ARGV[4])
redis.call('PUBLISH', p .. ':bus', 'U' .. #room .. ':' .. room .. #user .. ':' .. user .. ARGV[4])
return 1
"#;

/// A page of a room's history: the newest `limit` entries with a seq below `before`,
/// after trimming what aged out. ARGV: prefix, room, before (empty: from the newest),
/// limit, history length, history age (ms), history bytes. Returns the epoch (0 for a
/// room Redis does not know), 1 if older entries exist (else 0), then the entries
/// (`seq ms frame`), oldest first. Seqs in the list are consecutive (every message is
/// pushed, the oldest popped), so an entry's index is its seq minus the oldest one's.
const HISTORY: &str = r#"
local room = ARGV[2]
local epoch = redis.call('HGET', p .. ':room:' .. room, 'epoch') or '0'
local hist = p .. ':hist:' .. room
if redis.call('EXISTS', hist) == 1 then
  trim(room, tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), now_ms())
end
local first = redis.call('LINDEX', hist, 0)
if not first then return {epoch, 0} end
local oldest = tonumber(string.sub(first, 1, string.find(first, ' ', 1, true) - 1))
local n = redis.call('LLEN', hist)
local stop = n
if ARGV[3] ~= '' then stop = math.max(0, math.min(n, tonumber(ARGV[3]) - oldest)) end
local start = math.max(0, stop - tonumber(ARGV[4]))
local out = {epoch, start > 0 and 1 or 0}
if stop > start then
  for _, e in ipairs(redis.call('LRANGE', hist, start, stop - 1)) do table.insert(out, e) end
end
return out
"#;

/// One node's user has no connection left in a room. ARGV: prefix, node, room, user.
const DEPART: &str = r#"
depart(ARGV[2], ARGV[3], ARGV[4])
return 1
"#;

/// Renews a node's liveness and reaps the nodes whose liveness expired (their members
/// leave). ARGV: prefix, node, liveness (ms). Returns how many nodes were reaped.
const BEAT: &str = r#"
redis.call('SET', p .. ':node:' .. ARGV[2], '1', 'PX', ARGV[3])
redis.call('SADD', p .. ':nodes', ARGV[2])
local reaped = 0
for _, n in ipairs(redis.call('SMEMBERS', p .. ':nodes')) do
  if redis.call('EXISTS', p .. ':node:' .. n) == 0 then
    depart_all(n)
    redis.call('SREM', p .. ':nodes', n)
    reaped = reaped + 1
  end
end
return reaped
"#;

/// Clears everything a node holds (after it lost Redis, its clients were sent away).
/// ARGV: prefix, node.
const RECLAIM: &str = r#"
depart_all(ARGV[2])
return 1
"#;

/// The compiled scripts (each knows its SHA1 for `EVALSHA`).
pub(crate) struct Scripts {
    pub publish: Script,
    pub sync: Script,
    pub depart: Script,
    pub update: Script,
    pub history: Script,
    pub beat: Script,
    pub reclaim: Script,
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
            beat: with_prelude(BEAT),
            reclaim: with_prelude(RECLAIM),
        }
    }

    /// Every script, for `SCRIPT LOAD` after Redis lost them (a restart).
    pub fn all(&self) -> [&Script; 7] {
        [
            &self.publish,
            &self.sync,
            &self.depart,
            &self.update,
            &self.history,
            &self.beat,
            &self.reclaim,
        ]
    }
}
