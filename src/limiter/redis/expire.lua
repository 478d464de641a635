--[[
  Forget grants whose expiry has passed, WITHOUT giving anything back: their
  work may have happened, and a provider's limit counted it.

  Input:
    KEYS[1] epoch marker (string)
    KEYS[2] clock: latest server time a script used, ms (string)
    KEYS[3] live grants (sorted set: grant id scored by expiry ms)
    ARGV[1] key root: a grant's hash is root .. 'grant:' .. grant id
    ARGV[2] most grants to forget in this call (the caller loops while full)

  Output: { status, now, lost, states, payload }
    status 'ok'  payload: the ids forgotten; states {}
]]
--- @include "includes/bucket"

local now = serverNow(KEYS[2])
local lost = checkEpoch(KEYS[1], now)
local ids = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', fmt(now), 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('DEL', ARGV[1] .. 'grant:' .. id)
  redis.call('ZREM', KEYS[3], id)
end
return { 'ok', fmt(now), lost, {}, ids }
