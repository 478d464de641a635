--[[
  Make sure every configured pool has a bucket, at start and after an admin
  changed the pools. A pool with a bucket keeps its level (cut to a lowered
  capacity). A pool without one starts:
    - FULL on the deployment's very first start (no epoch marker here and
      the caller has recorded none anywhere: ARGV[2] 'first'), and for a
      pool the caller's configuration just added while the marker is here;
    - EMPTY otherwise: the marker is missing although the deployment
      started before (Redis lost its data), or the pool was known and its
      bucket is gone. Losing data must never let a burst through.

  Input:
    KEYS[1] epoch marker (string: the server time it was written, ms)
    KEYS[2] clock: latest server time a script used, ms (string)
    ARGV[1] key root: pool buckets are root .. 'pool:' .. pool key
    ARGV[2] 'first' if the deployment never recorded an epoch, else 'known'
    ARGV[3] number of pools, then for each: pool key, capacity, refill per
            second, '1' if new to the caller's configuration else '0'

  Output: { status, now, lost, states, payload }
    status 'ok'  payload: { epoch }
    lost     1 if the marker was missing and the deployment had started before
    states   flat { pool key, level, t, ... } of every pool given
]]
--- @include "includes/bucket"

local root = ARGV[1]
local now = serverNow(KEYS[2])
local first = ARGV[2] == 'first'
local marked = redis.call('EXISTS', KEYS[1]) == 1
local lost = 0
if not marked then
  redis.call('SET', KEYS[1], fmt(now))
  if not first then
    lost = 1
  end
end

local states = {}
local i = 4
for _ = 1, tonumber(ARGV[3]) do
  local p = { key = ARGV[i], cap = tonumber(ARGV[i + 1]), rate = tonumber(ARGV[i + 2]) }
  local isNew = ARGV[i + 3] == '1'
  i = i + 4
  if redis.call('EXISTS', poolKey(root, p)) == 0 and ((not marked and first) or (marked and isNew)) then
    p.level, p.t = p.cap, now
  else
    loadPool(root, p, now)
  end
  savePool(root, p)
  pushState(states, p)
end
return { 'ok', fmt(now), lost, states, { redis.call('GET', KEYS[1]) } }
