--[[
  Resources as the caller describes them in ARGV, from index i:
    count, then for each resource:
      name, amount ('' when not given), number of pools, then for each pool:
        pool key, capacity, refill per second
  Returns the list {name, amount, pools = {p...}, byKey = {key -> p}} and
  the index after it.
]]
local function readResources(i)
  local list = {}
  local count = tonumber(ARGV[i])
  i = i + 1
  for _ = 1, count do
    local r = { name = ARGV[i], amount = tonumber(ARGV[i + 1]), pools = {}, byKey = {} }
    local n = tonumber(ARGV[i + 2])
    i = i + 3
    for k = 1, n do
      local p = { key = ARGV[i], cap = tonumber(ARGV[i + 1]), rate = tonumber(ARGV[i + 2]) }
      r.pools[k] = p
      r.byKey[p.key] = p
      i = i + 3
    end
    list[#list + 1] = r
  end
  return list, i
end
