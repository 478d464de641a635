--[[
  An operator sets a resource's level: each pool gets its share (its
  capacity over the resource's), within [-capacity, capacity].

  Input:
    KEYS[1] epoch marker (string)
    KEYS[2] clock: latest server time a script used, ms (string)
    ARGV[1] key root: pool buckets are root .. 'pool:' .. pool key
    ARGV[2] the resource's new level ('' = full)
    ARGV[3] number of pools, then for each: pool key, capacity, refill per second

  Output: { status, now, lost, states, payload }
    status 'ok'  payload: { level before (pools summed, refilled to now) }
    states   flat { pool key, level, t, ... } of every pool
]]
--- @include "includes/bucket"

local root = ARGV[1]
local now = serverNow(KEYS[2])
local lost = checkEpoch(KEYS[1], now)
local level = tonumber(ARGV[2])

local pools, capacity, was = {}, 0, 0
local i = 4
for k = 1, tonumber(ARGV[3]) do
  local p = { key = ARGV[i], cap = tonumber(ARGV[i + 1]), rate = tonumber(ARGV[i + 2]) }
  i = i + 3
  loadPool(root, p, now)
  pools[k] = p
  capacity = capacity + p.cap
  was = was + p.level
end

local states = {}
for _, p in ipairs(pools) do
  local to = p.cap
  if level ~= nil then
    to = 0
    if capacity > 0 then
      to = (level * p.cap) / capacity
    end
  end
  p.level = math.min(p.cap, math.max(-p.cap, to))
  savePool(root, p)
  pushState(states, p)
end
return { 'ok', fmt(now), lost, states, { fmt(was) } }
