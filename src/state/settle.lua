-- Settle one admitted request in every scope, once (see src/state/mod.rs).
-- ARGV: request id, tokens, cost (nano-USD), input, cached input, output, counted (1/0),
--   scope count, then per scope 6 values: scope id, has window (1/0), has concurrency (1/0),
--   budget (nano-USD, -1: none), period, keep s (-1: for ever).
-- Returns per scope {has budget (1/0), budget - spent - reserved}.
-- Amounts go to HINCRBY as the strings they came in: a Lua number would be formatted with
-- %.14g, which turns large values into exponent notation.
local id, tokens, cost = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local input, cached, output, counted = ARGV[4], ARGV[5], ARGV[6], ARGV[7] == '1'
local out = {}
for s = 0, tonumber(ARGV[8]) - 1 do
  local b = 9 + s * 6
  local p = 'tg:' .. ARGV[b]
  local bud, res = p .. ':b:' .. ARGV[b + 4], p .. ':r:' .. ARGV[b + 4]
  local budget, keep = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 5])
  if ARGV[b + 1] == '1' then
    local before = redis.call('HGET', p .. ':tok', id)
    if before then
      redis.call('HSET', p .. ':tok', id, tokens)
      redis.call('INCRBY', p .. ':sum', tokens - tonumber(before))
    end
  end
  if ARGV[b + 2] == '1' then redis.call('ZREM', p .. ':cc', id) end
  local r = redis.call('HGET', bud, 'r:' .. id)
  if r then
    if r ~= '0' then redis.call('HINCRBY', bud, 'reserved', '-' .. r) end
    redis.call('HDEL', bud, 'r:' .. id)
    redis.call('ZREM', res, id)
  end
  if counted then
    redis.call('HINCRBY', bud, 'requests', 1)
    redis.call('HINCRBY', bud, 'input', input)
    redis.call('HINCRBY', bud, 'cached', cached)
    redis.call('HINCRBY', bud, 'output', output)
    redis.call('HINCRBY', bud, 'spent', ARGV[3])
    if keep > 0 then redis.call('EXPIRE', bud, keep) end
  end
  if budget >= 0 then
    local spent = tonumber(redis.call('HGET', bud, 'spent') or '0')
    local reserved = tonumber(redis.call('HGET', bud, 'reserved') or '0')
    table.insert(out, 1)
    table.insert(out, budget - spent - reserved)
  else
    table.insert(out, 0)
    table.insert(out, 0)
  end
end
return out
