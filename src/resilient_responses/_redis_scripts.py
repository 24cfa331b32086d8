"""The Lua scripts of :class:`~resilient_responses.RedisStore`: every transition, atomic.

Each script runs as one Redis command (``EVALSHA``), so no other process can see or make a
half-done transition, and reads the server's clock (``TIME``) so that every process of the
fleet agrees on when a breaker opened and when its reset timeout has passed. Scripts call
``TIME`` before writing, which needs effects replication: Redis 5 or later.

Breaker layout (``<h>`` is a hash of the breaker key, never the key itself):

* ``<prefix>:breaker:{<h>}``, a hash: ``s`` the state (``open`` or ``half-open``; absent
  means closed), ``f`` tripping failures counted while closed, ``k`` successes counted while
  half-open, ``o`` when it opened (server milliseconds). A closed breaker with no failure
  counted has no key at all. Expires ``ttl_ms`` after its last write.
* ``<prefix>:probes:{<h>}``, a sorted set: half-open probe leases, member the lease id, score
  the server millisecond it expires at. A prober that crashed leaves a lease that expires.

Both keys share the hash tag ``{<h>}`` so a Redis Cluster keeps them in one slot.

These mirror pybreaker's state machine as :class:`~resilient_responses._breaker.KeyedBreaker`
drives it (see :class:`~resilient_responses._backends.BreakerBackend`), including its corner
cases: a failure recorded while half-open reopens the breaker whoever sent it; an outcome
recorded while open, once the reset timeout has passed, first moves the breaker to
half-open and then counts there; an outcome recorded while open before that counts nothing.
"""

from __future__ import annotations

__all__ = ["BREAKER_ADMIT", "BREAKER_PEEK", "BREAKER_RECORD", "BUDGET"]

# Shared prologue: `now` in server milliseconds.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

#: Admit one attempt.
#:
#: KEYS: breaker hash, probe leases. ARGV: reset_timeout_ms, half_open_probes, lease_id,
#: lease_ms, ttl_ms.
#:
#: Returns ``{verdict, clean, retry_ms, moved}``: verdict 0 refused (``retry_ms`` until the
#: next probe; 0 when half-open with every probe slot taken), 1 admitted while closed
#: (``clean`` 1 when no failure is counted), 2 admitted as a half-open probe holding the
#: lease; ``moved`` 1 when this call moved the breaker from open to half-open.
BREAKER_ADMIT = (
    _NOW_MS
    + """
local h = redis.call('HMGET', KEYS[1], 's', 'f', 'o')
local state = h[1] or 'closed'
if state == 'closed' then
  if (tonumber(h[2]) or 0) == 0 then return {1, 1, 0, 0} end
  return {1, 0, 0, 0}
end
local moved = 0
if state == 'open' then
  local remaining = (tonumber(h[3]) or 0) + tonumber(ARGV[1]) - now
  if remaining > 0 then return {0, 0, remaining, 0} end
  redis.call('HSET', KEYS[1], 's', 'half-open', 'k', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  moved = 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then
  return {0, 0, 0, moved}
end
local lease_ms = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now + lease_ms, ARGV[3])
redis.call('PEXPIRE', KEYS[2], lease_ms + 1000)
return {2, 0, 0, moved}
"""
)

#: Account the outcome of an admitted attempt.
#:
#: KEYS: breaker hash, probe leases. ARGV: outcome (``1`` a tripping failure, ``0`` a
#: success, ``-1`` nothing known: only the lease is released), lease_id (``''`` for none),
#: fail_max, reset_timeout_ms, success_threshold, ttl_ms.
#:
#: Returns the breaker's state after the outcome, then the transitions this call made,
#: flattened: ``{state, old1, new1, old2, new2, ...}``.
BREAKER_RECORD = (
    _NOW_MS
    + """
local function done(state, out)
  local reply = {state}
  for i = 1, #out do reply[#reply + 1] = out[i] end
  return reply
end
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[2], ARGV[2]) end
local outcome = ARGV[1]
local h = redis.call('HMGET', KEYS[1], 's', 'f', 'o')
local state = h[1] or 'closed'
if outcome == '-1' then return {state} end
local tripped = outcome == '1'
local out = {}
if state == 'closed' then
  if not tripped then
    -- any success while closed resets the count: a clean closed breaker has no key
    if h[2] then redis.call('DEL', KEYS[1]) end
    return done('closed', out)
  end
  local fails = redis.call('HINCRBY', KEYS[1], 'f', 1)
  if fails >= tonumber(ARGV[3]) then
    redis.call('HSET', KEYS[1], 's', 'open', 'o', now, 'k', 0)
    out = {'closed', 'open'}
    state = 'open'
  end
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
  return done(state, out)
end
if state == 'open' then
  if (tonumber(h[3]) or 0) + tonumber(ARGV[4]) > now then return done('open', out) end
  redis.call('HSET', KEYS[1], 's', 'half-open', 'k', 0)
  out = {'open', 'half-open'}
end
if tripped then
  redis.call('HINCRBY', KEYS[1], 'f', 1)
  redis.call('HSET', KEYS[1], 's', 'open', 'o', now, 'k', 0)
  out[#out + 1] = 'half-open'
  out[#out + 1] = 'open'
  state = 'open'
else
  redis.call('HSET', KEYS[1], 'f', 0)
  if redis.call('HINCRBY', KEYS[1], 'k', 1) >= tonumber(ARGV[5]) then
    redis.call('DEL', KEYS[1])
    out[#out + 1] = 'half-open'
    out[#out + 1] = 'closed'
    return done('closed', out)
  end
  state = 'half-open'
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return done(state, out)
"""
)

#: Read a breaker without changing it.
#:
#: KEYS: breaker hash. ARGV: reset_timeout_ms. Returns ``{state, retry_ms}``: ``retry_ms``
#: until an open breaker lets a probe through (0 when not open, or when it would now).
BREAKER_PEEK = (
    _NOW_MS
    + """
local h = redis.call('HMGET', KEYS[1], 's', 'o')
local state = h[1] or 'closed'
if state ~= 'open' then return {state, 0} end
local remaining = (tonumber(h[2]) or 0) + tonumber(ARGV[1]) - now
if remaining < 0 then remaining = 0 end
return {state, remaining}
"""
)

#: The fleet's retry budget (Finagle's): deposits and withdrawals counted in one-second
#: buckets over a sliding window of ``size`` seconds of server time.
#:
#: KEYS: budget hash (``lo`` the oldest second that may hold a bucket, ``D`` / ``W`` the
#: window's deposit and withdrawal totals, ``d<sec>`` / ``w<sec>`` the buckets). ARGV:
#: deposits to add, withdraw (``1`` take one token if at least one is there, ``0`` not),
#: size, ratio, reserve (``min_per_second * ttl``), ttl_ms.
#:
#: Returns ``{took, balance}``: ``took`` 1 when a token was withdrawn, ``balance`` the
#: tokens left (a string: Redis would truncate a Lua number to an integer). At most
#: ``2 * size + 3`` fields live at once; pruning walks each second once.
BUDGET = """
local t = redis.call('TIME')
local now = tonumber(t[1])
local size = tonumber(ARGV[3])
local oldest = now - size + 1
local lo = tonumber(redis.call('HGET', KEYS[1], 'lo'))
if lo == nil or oldest - lo >= size then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'lo', oldest, 'D', 0, 'W', 0)
elseif lo < oldest then
  for s = lo, oldest - 1 do
    local d = redis.call('HGET', KEYS[1], 'd' .. s)
    if d then
      redis.call('HINCRBY', KEYS[1], 'D', -tonumber(d))
      redis.call('HDEL', KEYS[1], 'd' .. s)
    end
    local w = redis.call('HGET', KEYS[1], 'w' .. s)
    if w then
      redis.call('HINCRBY', KEYS[1], 'W', -tonumber(w))
      redis.call('HDEL', KEYS[1], 'w' .. s)
    end
  end
  redis.call('HSET', KEYS[1], 'lo', oldest)
end
local n = tonumber(ARGV[1])
if n > 0 then
  redis.call('HINCRBY', KEYS[1], 'd' .. now, n)
  redis.call('HINCRBY', KEYS[1], 'D', n)
end
local h = redis.call('HMGET', KEYS[1], 'D', 'W')
local balance = tonumber(h[1]) * tonumber(ARGV[4]) + tonumber(ARGV[5]) - tonumber(h[2])
local took = 0
if ARGV[2] == '1' and balance >= 1 then
  redis.call('HINCRBY', KEYS[1], 'w' .. now, 1)
  redis.call('HINCRBY', KEYS[1], 'W', 1)
  balance = balance - 1
  took = 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return {took, tostring(balance)}
"""
