--[[
  Token-bucket arithmetic as in src/core/token-bucket.ts, on the Redis
  server's clock.

  A pool's bucket is the hash root .. 'pool:' .. pool key with fields
    l  level (may be negative down to -capacity: a debt repaid by refill)
    t  ms up to which refill has been credited
  Numbers are written with 17 significant digits, so they read back as the
  same doubles (Lua's tostring keeps 14).

  A pool p is a table {key, cap, rate} from ARGV (the caller's configuration);
  loadPool adds p.level and p.t.
]]

local function fmt(x)
  return string.format('%.17g', x)
end

--[[
  The server's time in ms, never before the latest time a script used (kept
  at clockKey): if the server's clock steps back, nothing is credited twice
  and every pool agrees on when things happened.
]]
local function serverNow(clockKey)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
  local high = tonumber(redis.call('GET', clockKey) or '')
  if high ~= nil and high >= now then
    return high
  end
  redis.call('SET', clockKey, fmt(now))
  return now
end

--[[
  The epoch marker is written when the limiter first starts. Missing later
  means Redis lost its data (a restart without persistence, a flush): write
  it again, so that this is reported once, and return 1.
]]
local function checkEpoch(epochKey, now)
  if redis.call('EXISTS', epochKey) == 1 then
    return 0
  end
  redis.call('SET', epochKey, fmt(now))
  return 1
end

local function poolKey(root, p)
  return root .. 'pool:' .. p.key
end

local function savePool(root, p)
  redis.call('HSET', poolKey(root, p), 'l', fmt(p.level), 't', fmt(p.t))
end

--[[
  p.level and p.t refilled to now (a level above a lowered capacity is cut
  to it). A pool with no bucket starts EMPTY at now, written at once so that
  it refills from now: after Redis lost its data this admits no burst.
]]
local function loadPool(root, p, now)
  local h = redis.call('HMGET', poolKey(root, p), 'l', 't')
  local level, t = tonumber(h[1]), tonumber(h[2])
  if level == nil or t == nil then
    level, t = 0, now
    redis.call('HSET', poolKey(root, p), 'l', '0', 't', fmt(now))
  end
  if level > p.cap then
    level = p.cap
  end
  if now > t then
    level = math.min(p.cap, level + (p.rate * (now - t)) / 1000)
    t = now
  end
  p.level, p.t = level, t
end

-- A pool's state for the reply: the caller's snapshot (flat key, level, t).
local function pushState(states, p)
  states[#states + 1] = p.key
  states[#states + 1] = fmt(p.level)
  states[#states + 1] = fmt(p.t)
end
