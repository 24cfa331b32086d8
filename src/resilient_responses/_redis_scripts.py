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

import functools

__all__ = [
    "ACQUIRED",
    "ACQUIRED_FREE",
    "ACQUIRED_GATE",
    "ACQUIRED_OPEN",
    "ACQUIRED_TOKENS",
    "BREAKER_ADMIT",
    "BREAKER_PEEK",
    "BREAKER_RECORD",
    "BUDGET",
    "STATE_TTL_MS",
    "WAIT_GATE",
    "WAIT_HOLD",
    "WAIT_REQUESTS",
    "WAIT_TOKENS",
    "limiter_scripts",
]

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


# -- rate limits ---------------------------------------------------------------------------
#
# Layout per limiter key (``<h>`` a hash of the key, never the key itself), one hash tag:
#
# * ``<prefix>:ratelimit:{<h>}``, a hash: ``lr`` / ``lt`` the requests / tokens per minute
#   learned from headers, ``n`` set when an answer said the key has no limits, ``g`` when
#   the first-call gate times out (server ms), ``h`` when a hold ends (server ms). Expires
#   ``meta_ttl`` after its last write (every process rewrites what it learned now and then).
#   ``q`` (server ms, fractional): when the last refused caller's turn comes.
# * ``<prefix>:ratelimit:requests:{<h>}`` and ``<prefix>:ratelimit:tokens:{<h>}``: the GCRA
#   state, pyrate-limiter's own layout (a hash, ``tat1`` the theoretical arrival time in
#   microseconds), stepped by pyrate-limiter's own Lua (``GCRA.redis_script()``), which
#   runs here as a function so that the hold, the gate, both rates and the give-back of a
#   request unit take one round trip (pyrate's ``RedisStateStore.check`` is one script per
#   key and weight). Expires once its bucket has been full for ``STATE_TTL_MS``.
#
# Times are the server's (``TIME``) unless a caller passes ``now`` (tests, on a virtual
# clock). Rates: ``emission = ceil(60,000,000 / limit)`` microseconds (pyrate's formula for
# ``Rate(limit, 60_000)``) and ``burst = max(1, floor(limit * burst_seconds / 60))``, the same
# as :func:`~resilient_responses._ratelimit.burst_for`.

#: A rate's state outlives the moment its bucket is full again by this (milliseconds).
STATE_TTL_MS = 600_000

_LIMITER_PRELUDE = """
local now_ms
if ARGV[1] ~= '' then
  now_ms = tonumber(ARGV[1])
else
  local t = redis.call('TIME')
  now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local now_us = now_ms * 1000
local STATE_TTL_MS = STATE_TTL

local function rate(limit, burst_seconds)
  return math.ceil(60000000 / limit), math.max(1, math.floor(limit * burst_seconds / 60))
end

local function put(key, tat)
  redis.call('HSET', key, 'tat1', string.format('%.0f', tat))
  local live = math.ceil(math.max(0, tat - now_us) / 1000)
  redis.call('PEXPIRE', key, live + STATE_TTL_MS)
end

-- GCRA's max(tat, now) + units * emission, outside admission (charges, refunds).
local function shift(key, units, emission)
  local tat = tonumber(redis.call('HGET', key, 'tat1')) or now_us
  if tat < now_us then tat = now_us end
  put(key, tat + units * emission)
end

-- No burst left: the next admission waits one emission interval.
local function empty(key, emission, burst)
  local floor = now_us + burst * emission
  local tat = tonumber(redis.call('HGET', key, 'tat1'))
  if tat == nil or tat < floor then put(key, floor) end
end
""".replace("STATE_TTL\n", f"{STATE_TTL_MS}\n")


def _pyrate_step() -> str:
    # pyrate-limiter's GCRA script, verbatim, as a Lua function: KEYS and ARGV become its
    # parameters (Lua resolves them to the innermost scope), its returns return from it.
    from pyrate_limiter import GCRA

    lua = GCRA().redis_script()
    if lua is None:  # pragma: no cover - GCRA has had a script since pyrate-limiter 4.0
        raise RuntimeError("pyrate-limiter's GCRA has no Redis script")
    return f"local function pyrate_gcra(KEYS, ARGV)\n{lua}\nend\n"


#: Reply codes of :data:`LIMITER_ACQUIRE` (the second element).
ACQUIRED_OPEN = 0  # admitted: the gate timed out without an answer, the key is open
ACQUIRED_FREE = 1  # admitted: the key has no limits (cache it)
ACQUIRED_GATE = 2  # admitted alone: the caller holds the first-call gate
WAIT_GATE = 3  # wait: another caller holds the gate
WAIT_HOLD = 4  # wait: the key is held (capacity used up, or a 429)
WAIT_REQUESTS = 5  # wait: requests per minute
WAIT_TOKENS = 6  # wait: tokens per minute
ACQUIRED = 7  # admitted; the key has no token limit
ACQUIRED_TOKENS = 8  # admitted; the key has a token limit (reconcile it)

_ACQUIRE_BODY = """
-- A fresh rate admits this arrival at once and leaves its bucket empty.
local function step(key, weight, emission, burst)
  local tat = tonumber(redis.call('HGET', key, 'tat1'))
  if tat == nil then
    tat = now_us + math.max(0, burst - weight) * emission
    put(key, tat)
  end
  if tat < now_us then tat = now_us end
  local ttl = math.ceil((tat - now_us + weight * emission) / 1000) + STATE_TTL_MS
  return pyrate_gcra({key}, {now_ms, weight, ttl, 1, emission, burst})
end

local m = redis.call('HMGET', KEYS[1], 'h', 'lr', 'lt', 'n', 'g', 'q')
local rpm = tonumber(ARGV[3])
if rpm == 0 then rpm = tonumber(m[2]) or 0 end
local tpm = tonumber(ARGV[4])
if tpm == 0 then tpm = tonumber(m[3]) or 0 end
local bs = tonumber(ARGV[5])
local weight = tonumber(ARGV[2])
local re, rb, te, tb = 0, 0, 0, 0
if rpm > 0 then re, rb = rate(rpm, bs) end
if tpm > 0 then te, tb = rate(tpm, bs) end

-- A refused caller's wait: behind the last caller lined up, by this request's worth of
-- capacity at the tighter rate (GCRA's spacing once the bucket is empty), at most `ahead`
-- ms ahead.
local function line_up(wait_ms, code)
  local at = now_ms + wait_ms
  local queue = tonumber(m[6])
  if queue then
    local cost = re
    if weight > 0 and te * weight > cost then cost = te * weight end
    local turn = queue + cost / 1000
    if turn > at then
      local ahead = tonumber(ARGV[10])
      if turn - now_ms > ahead then return {math.ceil(math.max(wait_ms, ahead)), code} end
      at = turn
    end
  end
  redis.call('HSET', KEYS[1], 'q', string.format('%.3f', at))
  redis.call('PEXPIRE', KEYS[1], ARGV[9])
  return {math.ceil(at - now_ms), code}
end

local hold = tonumber(m[1])
if hold and hold > now_ms then return line_up(hold - now_ms, 4) end
if rpm == 0 and tpm == 0 then
  if m[4] or ARGV[6] ~= '1' then return {0, 1} end
  local gate = tonumber(m[5])
  if gate == nil then
    redis.call('HSET', KEYS[1], 'g', now_ms + tonumber(ARGV[7]))
    redis.call('PEXPIRE', KEYS[1], ARGV[9])
    return {0, 2}
  end
  if now_ms < gate then return {math.min(tonumber(ARGV[8]), gate - now_ms), 3} end
  return {0, 0}
end
if rpm > 0 then
  local r = step(KEYS[2], 1, re, rb)
  if r[1] >= 0 then return line_up(r[2], 5) end
end
-- A request of no estimated tokens is still held while the bucket is in debt: it is
-- admitted as one token, given back at once.
if tpm > 0 then
  local w = math.max(1, math.min(weight, tb))
  local r = step(KEYS[3], w, te, tb)
  if r[1] >= 0 then
    if rpm > 0 then shift(KEYS[2], -1, re) end
    return line_up(r[2], 6)
  end
  -- Charged in full, but never more than a minute's worth (the server refuses larger).
  local charged = math.min(weight, math.ceil(tpm))
  if charged ~= w then shift(KEYS[3], charged - w, te) end
end
if tpm > 0 then return {0, 8} end
return {0, 7}
"""

_OBSERVE_BODY = """
local m = redis.call('HMGET', KEYS[1], 'lr', 'lt', 'h')
local bs = tonumber(ARGV[6])
local lr, lt = tonumber(ARGV[2]), tonumber(ARGV[3])
if lr > 0 and tonumber(m[1]) ~= lr then
  redis.call('HSET', KEYS[1], 'lr', lr)
  if m[1] == false then empty(KEYS[2], rate(lr, bs)) end
end
if lt > 0 and tonumber(m[2]) ~= lt then
  redis.call('HSET', KEYS[1], 'lt', lt)
  if m[2] == false then empty(KEYS[3], rate(lt, bs)) end
end
if lr > 0 or lt > 0 then
  redis.call('HDEL', KEYS[1], 'n', 'g')
elseif ARGV[5] == '1' then
  if m[1] == false and m[2] == false then redis.call('HSET', KEYS[1], 'n', 1) end
  redis.call('HDEL', KEYS[1], 'g')
else
  redis.call('HDEL', KEYS[1], 'g')
end
local hold = tonumber(ARGV[4])
if hold > 0 then
  local ends = now_ms + hold
  if (tonumber(m[3]) or 0) < ends then redis.call('HSET', KEYS[1], 'h', ends) end
end
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[7]) end
return 1
"""

_RECONCILE_BODY = """
local tpm = tonumber(ARGV[3])
if tpm == 0 then tpm = tonumber(redis.call('HGET', KEYS[1], 'lt')) or 0 end
if tpm == 0 then return 0 end
local te = rate(tpm, tonumber(ARGV[4]))
local delta = tonumber(ARGV[2])
-- A 429's refund is for a request larger than the whole limit only.
if ARGV[5] == '1' and -delta <= tpm then return 0 end
-- A refund gives back at most what a request is charged: a minute's worth.
shift(KEYS[2], math.max(delta, -math.ceil(tpm)), te)
return 1
"""


_LEAVE_BODY = """
-- A caller lined up left without asking again (cancelled, out of time): the line moves
-- back by its place, so callers after it are not held for a phantom.
local m = redis.call('HMGET', KEYS[1], 'lr', 'lt', 'q')
local queue = tonumber(m[3])
if queue == nil then return 0 end
local rpm = tonumber(ARGV[3])
if rpm == 0 then rpm = tonumber(m[1]) or 0 end
local tpm = tonumber(ARGV[4])
if tpm == 0 then tpm = tonumber(m[2]) or 0 end
local bs = tonumber(ARGV[5])
local weight = tonumber(ARGV[2])
local cost = 0
if rpm > 0 then cost = rate(rpm, bs) end
if tpm > 0 and weight > 0 then
  local te = rate(tpm, bs)
  if te * weight > cost then cost = te * weight end
end
local back = queue - cost / 1000
if back <= now_ms then
  redis.call('HDEL', KEYS[1], 'q')
else
  redis.call('HSET', KEYS[1], 'q', string.format('%.3f', back))
end
return 1
"""


@functools.cache
def limiter_scripts() -> tuple[str, str, str, str]:
    """The rate limiter's scripts ``(acquire, observe, reconcile, leave)``, built on first use
    (pyrate-limiter is imported then, not with the package).

    * acquire. KEYS: meta, requests state, tokens state. ARGV: now_ms (``''``: server
      time), tokens, requests_per_minute configured (0: none), tokens_per_minute
      configured (0: none), burst_seconds, gated (``1``: unknown keys send their first
      call alone), gate_ms, poll_ms, meta_ttl_ms, queue_ahead_ms. Returns
      ``{wait_ms, code}`` (codes above; ``wait_ms`` 0 when admitted). A refused caller is
      lined up behind the others (meta field ``q``: the last one's turn).
    * observe. KEYS: the same. ARGV: now_ms, learned requests_per_minute (0: none),
      learned tokens_per_minute (0: none), hold_ms, no_limits (``1``: an answer without
      x-ratelimit headers), burst_seconds, meta_ttl_ms. Releases the gate.
    * reconcile. KEYS: meta, tokens state. ARGV: now_ms, tokens to charge (negative:
      give back), tokens_per_minute configured (0: use the learned one), burst_seconds,
      oversized_only (``1``: give back only a request larger than the whole limit).
    * leave. KEYS: meta. ARGV: now_ms, tokens, requests_per_minute configured (0: none),
      tokens_per_minute configured (0: none), burst_seconds. A caller lined up left: the
      line (``q``) moves back by its place.
    """
    head = _LIMITER_PRELUDE
    return (
        head + _pyrate_step() + _ACQUIRE_BODY,
        head + _OBSERVE_BODY,
        head + _RECONCILE_BODY,
        head + _LEAVE_BODY,
    )
