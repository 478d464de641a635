--[[
  Take a grant: every resource's amount from its pools in draw order, or
  nothing. A live grant with this id is returned as it is (idempotent).

  Input:
    KEYS[1] epoch marker (string)
    KEYS[2] clock: latest server time a script used, ms (string)
    KEYS[3] live grants (sorted set: grant id scored by expiry ms)
    KEYS[4] this grant (hash, see includes/grant.lua)
    ARGV[1] key root: pool buckets are root .. 'pool:' .. pool key
    ARGV[2] grant id
    ARGV[3] ttl, ms: the grant expires at server time + ttl
    ARGV[4...] resources (includes/resources.lua): name, amount needed,
            pools in DRAW ORDER (the caller's drawOrder for this requester)

  Output: { status, now, lost, states, payload }
    status 'ok'  payload: what was taken, flat { pool key, amount, ... }
    status 'no'  payload: { resource, needed, wait ms ('-1': never) } for
                 the first resource short; nothing was taken
    now      server time used, ms; lost: 1 if Redis had lost its data
    states   flat { pool key, level, t, ... } of the pools read
]]
--- @include "includes/bucket"
--- @include "includes/resources"

local root = ARGV[1]
local now = serverNow(KEYS[2])
local lost = checkEpoch(KEYS[1], now)

local live = redis.call('HGET', KEYS[4], 'taken')
if live then
  return { 'ok', fmt(now), lost, {}, cjson.decode(live) }
end

local resources = readResources(4)
local states = {}

-- First every resource must fit (src/limiter/draw.ts waitToDraw)...
for _, r in ipairs(resources) do
  local available, rate, room = 0, 0, 0
  for _, p in ipairs(r.pools) do
    loadPool(root, p, now)
    pushState(states, p)
    available = available + math.max(0, p.level)
    rate = rate + p.rate
    room = room + p.cap
  end
  if available < r.amount then
    local wait = -1
    if r.amount <= room + 1e-9 and rate > 0 then
      wait = math.ceil(((r.amount - available) * 1000) / rate)
      for _, p in ipairs(r.pools) do
        wait = math.max(wait, p.t - now)
      end
    end
    return { 'no', fmt(now), lost, states, { r.name, fmt(r.amount), fmt(wait) } }
  end
end

-- ...then take, in draw order.
local taken = {}
states = {}
for _, r in ipairs(resources) do
  local rest = r.amount
  for _, p in ipairs(r.pools) do
    if rest <= 1e-12 then
      break
    end
    local take = math.min(rest, math.max(0, p.level))
    if take > 0 then
      p.level = p.level - take
      savePool(root, p)
      taken[#taken + 1] = p.key
      taken[#taken + 1] = fmt(take)
      rest = rest - take
    end
  end
  for _, p in ipairs(r.pools) do
    pushState(states, p)
  end
end

local exp = now + tonumber(ARGV[3])
-- An empty Lua table encodes as '{}', which decodes back to an empty table: fine.
redis.call('HSET', KEYS[4], 'exp', fmt(exp), 'taken', cjson.encode(taken))
redis.call('ZADD', KEYS[3], fmt(exp), ARGV[2])
return { 'ok', fmt(now), lost, states, taken }
