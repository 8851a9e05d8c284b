-- Admit one request against every scope it belongs to, atomically (see src/state/mod.rs).
-- Time is Redis's own clock, so instances with skewed clocks share one window.
-- ARGV: request id, tokens, cost (nano-USD), lease ms, scope count, then per scope 8 values:
--   scope id, requests, tokens, window ms, max concurrent, budget (nano-USD), period, keep s
--   (-1 where a limit is not set; keep -1: for ever).
-- Returns {1, requests left, tokens left, budget left, ... per scope} (-1: no such limit),
-- or {0, scope number (1-based), limit, retry after ms (-1: none)}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id, tokens, cost, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local scopes = {}
for s = 0, tonumber(ARGV[5]) - 1 do
  local b = 6 + s * 8
  local p = 'tg:' .. ARGV[b]
  scopes[s + 1] = {
    log = p .. ':log', tok = p .. ':tok', sum = p .. ':sum', cc = p .. ':cc',
    bud = p .. ':b:' .. ARGV[b + 6], res = p .. ':r:' .. ARGV[b + 6],
    requests = tonumber(ARGV[b + 1]), tokens = tonumber(ARGV[b + 2]),
    window = tonumber(ARGV[b + 3]), conc = tonumber(ARGV[b + 4]),
    budget = tonumber(ARGV[b + 5]), keep = tonumber(ARGV[b + 7]),
  }
end

local out = {1}
for s, sc in ipairs(scopes) do
  local left_req, left_tok, left_bud = -1, -1, -1
  if sc.requests >= 0 or sc.tokens >= 0 then
    local horizon = now - sc.window
    local old = redis.call('ZRANGEBYSCORE', sc.log, '-inf', horizon)
    if #old > 0 then
      local freed = 0
      for _, m in ipairs(old) do
        freed = freed + tonumber(redis.call('HGET', sc.tok, m) or '0')
        redis.call('HDEL', sc.tok, m)
      end
      redis.call('ZREMRANGEBYSCORE', sc.log, '-inf', horizon)
      redis.call('DECRBY', sc.sum, freed)
    end
    local count = redis.call('ZCARD', sc.log)
    local used = tonumber(redis.call('GET', sc.sum) or '0')
    local function wait()
      local first = redis.call('ZRANGE', sc.log, 0, 0, 'WITHSCORES')
      if #first == 0 then return sc.window end
      return math.max(0, tonumber(first[2]) + sc.window - now)
    end
    if sc.requests >= 0 then
      if count + 1 > sc.requests then return {0, s, 'rpm', wait()} end
      left_req = sc.requests - count - 1
    end
    if sc.tokens >= 0 then
      if used + tokens > sc.tokens then return {0, s, 'tpm', wait()} end
      left_tok = sc.tokens - used - tokens
    end
  end
  if sc.conc >= 0 then
    redis.call('ZREMRANGEBYSCORE', sc.cc, '-inf', now)
    if redis.call('ZCARD', sc.cc) + 1 > sc.conc then return {0, s, 'concurrent', 1000} end
  end
  if sc.budget >= 0 then
    -- Reservations of requests whose instance never settled them lapse.
    local lapsed = redis.call('ZRANGEBYSCORE', sc.res, '-inf', now)
    for _, m in ipairs(lapsed) do
      local r = redis.call('HGET', sc.bud, 'r:' .. m)
      if r and r ~= '0' then redis.call('HINCRBY', sc.bud, 'reserved', '-' .. r) end
      redis.call('HDEL', sc.bud, 'r:' .. m)
    end
    if #lapsed > 0 then redis.call('ZREMRANGEBYSCORE', sc.res, '-inf', now) end
    local spent = tonumber(redis.call('HGET', sc.bud, 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', sc.bud, 'reserved') or '0')
    if spent >= sc.budget or spent + reserved + cost > sc.budget then
      return {0, s, 'budget', -1}
    end
    left_bud = sc.budget - spent - reserved - cost
  end
  table.insert(out, left_req)
  table.insert(out, left_tok)
  table.insert(out, left_bud)
end

-- Every scope admits the request: take it into each.
for _, sc in ipairs(scopes) do
  if sc.requests >= 0 or sc.tokens >= 0 then
    redis.call('ZADD', sc.log, now, id)
    redis.call('HSET', sc.tok, id, tokens)
    redis.call('INCRBY', sc.sum, tokens)
    for _, k in ipairs({sc.log, sc.tok, sc.sum}) do
      redis.call('PEXPIRE', k, sc.window + 60000)
    end
  end
  if sc.conc >= 0 then
    redis.call('ZADD', sc.cc, now + lease, id)
    redis.call('PEXPIRE', sc.cc, lease)
  end
  if sc.budget >= 0 then
    redis.call('HINCRBY', sc.bud, 'reserved', ARGV[3])
    redis.call('HSET', sc.bud, 'r:' .. id, ARGV[3])
    redis.call('ZADD', sc.res, now + lease, id)
    redis.call('PEXPIRE', sc.res, lease)
    if sc.keep > 0 then redis.call('EXPIRE', sc.bud, sc.keep) end
  end
end
return out
