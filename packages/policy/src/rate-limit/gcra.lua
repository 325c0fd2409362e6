-- GCRA over one or more windows plus a daily quota, for one consumer, atomically.
-- KEYS[1..n]: theoretical arrival time (ms) of each window; KEYS[n+1]: daily counter (hash).
-- ARGV: want, n, limit1, period1, …, limitN, periodN, dayLimit (0 = none).
-- Grants up to `want` requests (1 per request in remote mode, a lease in local-first mode):
-- as many as every window and the quota allow now. Time is Redis's own clock, so router
-- replicas with skewed clocks still share one limit.
-- Returns: granted, retryAfterMs, then remaining and resetMs for each window, then the day's.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local want = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local grant = want
local retry = 0
local state = {}
for i = 1, n do
  local limit = tonumber(ARGV[1 + 2 * i])
  local period = tonumber(ARGV[2 + 2 * i])
  local interval = period / limit
  local tat = tonumber(redis.call('GET', KEYS[i])) or now
  if tat < now then tat = now end
  local available = math.floor((now + period - tat) / interval)
  if available < grant then grant = available end
  if available < 1 then
    local wait = tat + interval - period - now
    if wait > retry then retry = wait end
  end
  state[i] = { tat, interval, period }
end
local dayLimit = tonumber(ARGV[3 + 2 * n])
local day = math.floor(now / 86400000)
local dayReset = (day + 1) * 86400000 - now
local used = 0
if dayLimit > 0 then
  local stored = redis.call('HMGET', KEYS[n + 1], 'd', 'c')
  if tonumber(stored[1]) == day then used = tonumber(stored[2]) or 0 end
  local left = dayLimit - used
  if left < grant then grant = left end
  if left < 1 and dayReset > retry then retry = dayReset end
end
if grant < 0 then grant = 0 end
local out = { grant, math.ceil(retry) }
for i = 1, n do
  local tat, interval, period = state[i][1], state[i][2], state[i][3]
  if grant > 0 then
    tat = tat + grant * interval
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1000)
  end
  out[#out + 1] = math.floor((now + period - tat) / interval)
  out[#out + 1] = math.ceil(tat - now)
end
if dayLimit > 0 then
  used = used + grant
  if grant > 0 then
    redis.call('HSET', KEYS[n + 1], 'd', day, 'c', used)
    redis.call('PEXPIRE', KEYS[n + 1], 172800000)
  end
  out[#out + 1] = dayLimit - used
  out[#out + 1] = dayReset
end
return out
