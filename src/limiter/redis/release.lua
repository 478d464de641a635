--[[
  Release a grant (its work never ran): give back everything it took to the
  pools it came from, never above capacity, then forget it. A pool no longer
  configured is skipped. No such grant: nothing changes.

  Input:
    KEYS[1] epoch marker (string)
    KEYS[2] clock: latest server time a script used, ms (string)
    KEYS[3] live grants (sorted set: grant id scored by expiry ms)
    KEYS[4] this grant (hash, see includes/grant.lua)
    ARGV[1] key root: pool buckets are root .. 'pool:' .. pool key
    ARGV[2] grant id
    ARGV[3...] resources (includes/resources.lua): name, '' (amounts are not
            used here), pools. Must describe every resource the grant drew from.

  Output: { status, now, lost, states, payload }
    status 'ok'    released; payload {}
    status 'gone'  no such grant (settled, released, expired, never taken)
    status 'need'  payload: resources the grant drew from that ARGV did not
                   describe; nothing changed (call again with them)
    states   flat { pool key, level, t, ... } of the pools changed
]]
--- @include "includes/bucket"
--- @include "includes/resources"
--- @include "includes/grant"

local root = ARGV[1]
local now = serverNow(KEYS[2])
local lost = checkEpoch(KEYS[1], now)

local groups, order = readGrant(KEYS[4])
if not groups then
  return { 'gone', fmt(now), lost, {}, {} }
end

local resources = readResources(3)
local byName = {}
for _, r in ipairs(resources) do
  byName[r.name] = r
end
local missing = undescribed(order, byName)
if #missing > 0 then
  return { 'need', fmt(now), lost, {}, missing }
end

local states = {}
for _, name in ipairs(order) do
  for _, part in ipairs(groups[name]) do
    local p = byName[name].byKey[part.key]
    if p then
      loadPool(root, p, now)
      p.level = math.min(p.cap, p.level + math.max(0, part.amount))
      savePool(root, p)
      pushState(states, p)
    end
  end
end

forgetGrant(KEYS[3], KEYS[4], ARGV[2])
return { 'ok', fmt(now), lost, states, {} }
