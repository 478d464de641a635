--[[
  Read pools' levels, refilled to now, for the caller's snapshot (views).
  Changes no level; a pool with no bucket is created empty (as every script
  does, so that it refills from now).

  Input:
    KEYS[1] epoch marker (string)
    KEYS[2] clock: latest server time a script used, ms (string)
    ARGV[1] key root: pool buckets are root .. 'pool:' .. pool key
    ARGV[2] number of pools, then for each: pool key, capacity, refill per second

  Output: { status, now, lost, states, payload }
    status 'ok'  payload {}
    states   flat { pool key, level, t, ... } of every pool given
]]
--- @include "includes/bucket"

local root = ARGV[1]
local now = serverNow(KEYS[2])
local lost = checkEpoch(KEYS[1], now)
local states = {}
local i = 3
for _ = 1, tonumber(ARGV[2]) do
  local p = { key = ARGV[i], cap = tonumber(ARGV[i + 1]), rate = tonumber(ARGV[i + 2]) }
  i = i + 3
  loadPool(root, p, now)
  pushState(states, p)
end
return { 'ok', fmt(now), lost, states, {} }
