--[[
  Settle a grant at what was used, then forget it: per resource, unused
  units go back to the pools they came from, the last drawn (borrowed) first,
  never above capacity; overuse is debited from the first pool drawn (or the
  resource's first pool if it drew none), never below -capacity. A pool no
  longer configured is skipped. No such grant: nothing changes.

  Input:
    KEYS[1] epoch marker (string)
    KEYS[2] clock: latest server time a script used, ms (string)
    KEYS[3] live grants (sorted set: grant id scored by expiry ms)
    KEYS[4] this grant (hash, see includes/grant.lua)
    ARGV[1] key root: pool buckets are root .. 'pool:' .. pool key
    ARGV[2] grant id
    ARGV[3...] resources (includes/resources.lua): name, amount used ('' if
            not reported: 0), pools in CONFIGURATION ORDER (the shared pool
            first). Must describe every resource the grant drew from.

  Output: { status, now, lost, states, payload }
    status 'ok'    settled; payload {}
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

-- Resources used but not drawn from are settled too (all of it is overuse).
for _, r in ipairs(resources) do
  if not groups[r.name] and r.amount ~= nil and r.amount > 0 and #r.pools > 0 then
    groups[r.name] = {}
    order[#order + 1] = r.name
  end
end

local states = {}
local function change(p, f)
  if not p then
    return
  end
  loadPool(root, p, now)
  p.level = f(p)
  savePool(root, p)
  pushState(states, p)
end

for _, name in ipairs(order) do
  local r = byName[name]
  local parts = groups[name]
  local total = 0
  for _, part in ipairs(parts) do
    total = total + part.amount
  end
  local used = r.amount or 0
  if used <= total then
    local back = total - used
    for i = #parts, 1, -1 do
      if back <= 0 then
        break
      end
      local give = math.min(back, parts[i].amount)
      change(r.byKey[parts[i].key], function(p)
        return math.min(p.cap, p.level + math.max(0, give))
      end)
      back = back - give
    end
  else
    local first = parts[1] and parts[1].key or (r.pools[1] and r.pools[1].key)
    change(first and r.byKey[first], function(p)
      return math.max(-p.cap, p.level - (used - total))
    end)
  end
end

forgetGrant(KEYS[3], KEYS[4], ARGV[2])
return { 'ok', fmt(now), lost, states, {} }
