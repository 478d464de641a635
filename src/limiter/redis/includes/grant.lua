--[[
  A grant is the hash KEYS[4] with fields
    exp    expiry, server ms
    taken  JSON array of strings: pool key, amount, pool key, amount... in
           draw order (strings, so amounts keep all 17 digits)
  and its id in the sorted set KEYS[3], scored by expiry.
]]

-- The resource of a pool key: 'r' for its shared pool, 'r#name' for the others.
local function resourceOf(key)
  local i = string.find(key, '#', 1, true)
  if i then
    return string.sub(key, 1, i - 1)
  end
  return key
end

--[[
  What the grant took, grouped by resource in draw order:
  groups[name] = { {key, amount}... }, order = { name... }; nil if no such grant.
]]
local function readGrant(grantKey)
  local taken = redis.call('HGET', grantKey, 'taken')
  if not taken then
    return nil
  end
  local flat = cjson.decode(taken)
  local groups, order = {}, {}
  for i = 1, #flat, 2 do
    local name = resourceOf(flat[i])
    if not groups[name] then
      groups[name] = {}
      order[#order + 1] = name
    end
    local g = groups[name]
    g[#g + 1] = { key = flat[i], amount = tonumber(flat[i + 1]) }
  end
  return groups, order
end

--[[
  Resources the grant drew from that the caller did not describe: the
  script needs their pools' capacity and refill, so it asks for them.
]]
local function undescribed(order, byName)
  local missing = {}
  for _, name in ipairs(order) do
    if not byName[name] then
      missing[#missing + 1] = name
    end
  end
  return missing
end

local function forgetGrant(grantsKey, grantKey, grantId)
  redis.call('DEL', grantKey)
  redis.call('ZREM', grantsKey, grantId)
end
