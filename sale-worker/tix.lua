#!lua name=tix
--[[
tix.lua - a sale's atomic operations, as one Redis Function library.

Every tix-worker loads it with FUNCTION LOAD REPLACE when it (re)connects and
again when an FCALL answers that a function is missing. Keys are passed
explicitly and hash-tagged by sale (tix:{S}:...) so that one sale lives on one
cluster slot; the time is Redis's own (TIME), so that every worker shares one
clock. docs/REDIS.md describes the keys.

Return shapes: arrays whose first element is a status string. Integers are
Redis integers; values read back from a hash are the strings Redis stored.
Any function may also answer {'DATA_LOSS', why} when a sale's keys disagree
(the sale hash exists but its stock does not, ...): never guess then.

  tix_create(sale, stock, buyers, log, sales; sale_id, total, opens_at_ms, closes_at_ms)
    {'CREATED', total, remaining, opens_at_ms, closes_at_ms, now_ms}
    {'ALREADY_EXISTS'}                      the sale is left untouched
    {'DATA_LOSS', why}                      stock, buyers or log left without a sale
  tix_buy(sale, stock, buyers, log; sale_id, user_id, request_id)
    {'PURCHASED', remaining, order_id, purchased_at_ms, log_id, is_new}
    {'ALREADY_PURCHASED', remaining, order_id, purchased_at_ms, log_id, 0}
    {'SALE_NOT_OPEN', remaining, ms_until_open}
    {'SALE_CLOSED', remaining} | {'SOLD_OUT', remaining}
    {'NO_SALE'}
  tix_buy_many(sale, stock, buyers, log; sale_id, n, user_id_1, request_id_1, ...)
    {result_1, ..., result_n}: result_i is exactly what tix_buy would have
    answered for (user_id_i, request_id_i) called right after the i-1 before
    it; an error raised by one purchase is that element's error reply (the
    others stand, as separate calls would)
  tix_get_sale(sale, stock; sale_id)
    {'FOUND', total, remaining, opens_at_ms, closes_at_ms, now_ms} | {'NO_SALE'}
  tix_get_order(sale, buyers; sale_id, user_id)
    {'FOUND', order_id, request_id, purchased_at_ms, log_id}
    {'NO_SALE'} | {'NO_ORDER'}
  tix_buyers(sale, stock, buyers, log; sale_id, cursor)
    {'FOUND', remaining, closes_at_ms, created_at_ms, now_ms, next_cursor,
     user_id, order_id, request_id, purchased_at_ms, ...}   4 per buyer
    {'NO_SALE'}                                 one HSCAN page; cursor "0" = done
]]

-- Unix milliseconds from Redis's clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The sale hash as {total, opens, closes, created} (strings; created is
-- "0" for a hash without it), nil when there is no sale, or nil plus a
-- reason when the hash is there but unusable.
local function read_sale(key)
  local v = redis.call('HMGET', key, 'total', 'opens_at_ms', 'closes_at_ms', 'created_at_ms')
  if not v[1] and not v[2] and not v[3] then
    return nil
  end
  if not tonumber(v[1]) or not tonumber(v[2]) or not tonumber(v[3]) then
    return nil, 'sale hash lacks total, opens_at_ms or closes_at_ms'
  end
  return {total = v[1], opens = v[2], closes = v[3], created = tonumber(v[4]) and v[4] or '0'}
end

-- n in base 36 (lowercase): a short, stable spelling of a sale's
-- incarnation for its order ids.
local function base36(n)
  local digits, s = '0123456789abcdefghijklmnopqrstuvwxyz', ''
  n = math.floor(tonumber(n) or 0)
  repeat
    local d = n % 36
    s = digits:sub(d + 1, d + 1) .. s
    n = (n - d) / 36
  until n == 0
  return s
end

-- Reads the sale and its stock. A missing sale is NO_SALE, never "stock 0":
-- a Redis that lost its data must not look like a sold-out sale.
local function read_sale_and_stock(sale_key, stock_key)
  local sale, why = read_sale(sale_key)
  if not sale then
    return nil, nil, why and {'DATA_LOSS', why} or {'NO_SALE'}
  end
  local stock = tonumber(redis.call('GET', stock_key))
  if not stock then
    return nil, nil, {'DATA_LOSS', 'sale exists but its stock key is missing or not a number'}
  end
  return sale, stock, nil
end

-- Every ticket sold is one buyer and one log entry: total - stock of each.
-- A sale whose counts disagree lost keys (a deleted buyers hash would let
-- a buyer buy again; a deleted log would break the persister's replay), so
-- it sells nothing more. HLEN and XLEN are O(1).
local function check_counts(sale, stock, buyers_key, log_key)
  local sold = tonumber(sale.total) - stock
  local held, logged = redis.call('HLEN', buyers_key), redis.call('XLEN', log_key)
  if held ~= sold or logged ~= sold then
    return {'DATA_LOSS', string.format('total - stock is %d but the sale has %d buyers and %d log entries',
                                       sold, held, logged)}
  end
  return nil
end

local function create(keys, args)
  local sale_key, stock_key, buyers_key, log_key, sales_key = keys[1], keys[2], keys[3], keys[4], keys[5]
  local sale_id, total, opens, closes = args[1], args[2], args[3], args[4]
  if not tonumber(total) or not tonumber(opens) or not tonumber(closes) then
    return redis.error_reply('ERR tix_create: total, opens_at_ms and closes_at_ms must be integers')
  end
  if redis.call('EXISTS', sale_key) == 1 then
    return {'ALREADY_EXISTS'}
  end
  -- A stock, buyers or log without its sale is debris of a half-deleted
  -- sale: recreating over it would hand out order ids that buyers already
  -- hold, so an operator has to look first.
  if redis.call('EXISTS', stock_key) == 1 then
    return {'DATA_LOSS', 'stock key exists without its sale hash'}
  end
  if redis.call('EXISTS', buyers_key) == 1 or redis.call('EXISTS', log_key) == 1 then
    return {'DATA_LOSS', 'buyers hash or order log exists without its sale hash'}
  end
  local now = now_ms()
  redis.call('HSET', sale_key, 'sale_id', sale_id, 'total', total, 'opens_at_ms', opens,
             'closes_at_ms', closes, 'created_at_ms', string.format('%d', now))
  redis.call('SET', stock_key, total)
  redis.call('SADD', sales_key, sale_id)
  return {'CREATED', total, total, opens, closes, now}
end

-- Sells one ticket. The checks run in this order so that a buyer who
-- retries after the sale closed or sold out still gets their order back.
local function buy(keys, args)
  local sale_key, stock_key, buyers_key, log_key = keys[1], keys[2], keys[3], keys[4]
  local sale_id, user_id, request_id = args[1], args[2], args[3] or ''
  local sale, stock, answer = read_sale_and_stock(sale_key, stock_key)
  if answer then
    return answer
  end
  answer = check_counts(sale, stock, buyers_key, log_key)
  if answer then
    return answer
  end
  local remaining = math.max(stock, 0)
  local held = redis.call('HGET', buyers_key, user_id)
  if held then
    local o = cjson.decode(held)
    local same = o.request_id == request_id
    return {same and 'PURCHASED' or 'ALREADY_PURCHASED', remaining, o.order_id,
            o.purchased_at_ms, o.log_id, 0}
  end
  local now = now_ms()
  local opens, closes = tonumber(sale.opens), tonumber(sale.closes)
  if now < opens then
    return {'SALE_NOT_OPEN', remaining, opens - now}
  end
  if closes ~= 0 and now >= closes then
    return {'SALE_CLOSED', remaining}
  end
  if stock <= 0 then
    return {'SOLD_OUT', 0}
  end
  -- S:<incarnation>:<n>. n is unique within this incarnation because stock
  -- only ever goes down and check_counts refused a sale whose buyers or log
  -- went missing; the incarnation (created_at_ms, base 36) keeps the id
  -- unique when a Redis that lost the sale sees it created again, while the
  -- persister's store still holds the earlier incarnation's orders.
  remaining = stock - 1
  local order_id = sale_id .. ':' .. base36(sale.created) .. ':' ..
                   string.format('%d', tonumber(sale.total) - remaining)
  local at = string.format('%d', now)
  -- XADD first: if it fails nothing has been written yet (a function's
  -- writes are not rolled back on error).
  local log_id = redis.call('XADD', log_key, '*', 'order_id', order_id, 'sale_id', sale_id,
                            'user_id', user_id, 'request_id', request_id, 'purchased_at_ms', at)
  redis.call('DECR', stock_key)
  redis.call('HSET', buyers_key, user_id, cjson.encode({order_id = order_id,
             request_id = request_id, purchased_at_ms = at, log_id = log_id}))
  return {'PURCHASED', remaining, order_id, at, log_id, 1}
end

-- Several purchases of one sale in one call: buy() itself, in order, so
-- that every rule of tix_buy holds for each (a user twice in one batch is
-- PURCHASED, then ALREADY_PURCHASED or the same order again). One call
-- instead of n saves Redis the per-command cost (parsing, the function
-- call, the AOF write and fsync) that bounds tix_buy's rate.
local function buy_many(keys, args)
  local n = tonumber(args[2])
  if not n or n < 1 or n ~= math.floor(n) or #args ~= 2 + 2 * n then
    return redis.error_reply('ERR tix_buy_many: want sale_id, n, then n pairs of user_id and request_id')
  end
  local out, one = {}, {args[1], '', ''}
  for i = 1, n do
    one[2], one[3] = args[1 + 2 * i], args[2 + 2 * i]
    local ok, answer = pcall(buy, keys, one)
    if not ok then
      -- A failed redis.call raises its error text ("OOM ...", "WRONGTYPE
      -- ..."): kept as it is, so that its first word still says whether
      -- a retry may help; anything else is a fault of the library itself.
      if type(answer) == 'table' and answer.err then
        answer = answer.err
      end
      answer = tostring(answer)
      out[i] = {err = answer:match('^%u[%u_]+ ') and answer or 'ERR tix_buy_many: ' .. answer}
    else
      out[i] = answer
    end
  end
  return out
end

local function get_sale(keys, args)
  local sale, stock, answer = read_sale_and_stock(keys[1], keys[2])
  if answer then
    return answer
  end
  return {'FOUND', sale.total, math.max(stock, 0), sale.opens, sale.closes, now_ms()}
end

local function get_order(keys, args)
  local sale_key, buyers_key, user_id = keys[1], keys[2], args[2]
  if redis.call('EXISTS', sale_key) == 0 then
    return {'NO_SALE'}
  end
  local held = redis.call('HGET', buyers_key, user_id)
  if not held then
    return {'NO_ORDER'}
  end
  local o = cjson.decode(held)
  return {'FOUND', o.order_id, o.request_id, o.purchased_at_ms, o.log_id}
end

-- One page of the buyers of a sale, flattened, for the broker's sold-out
-- edge (after the same count check as tix_buy). HSCAN may return a user twice across pages (harmless: same record).
-- COUNT 100 keeps a page well under the broker's 64 KiB message limit.
local function buyers(keys, args)
  local sale, stock, answer = read_sale_and_stock(keys[1], keys[2])
  if answer then
    return answer
  end
  answer = check_counts(sale, stock, keys[3], keys[4])
  if answer then
    return answer
  end
  local cursor = args[2] ~= '' and args[2] or '0'
  local page = redis.call('HSCAN', keys[3], cursor, 'COUNT', 100)
  -- created_at_ms tells this incarnation of the sale from a later one of
  -- the same id; now_ms is Redis's clock, which decides the close.
  local out = {'FOUND', math.max(stock, 0), sale.closes, sale.created, now_ms(), page[1]}
  local kv = page[2]
  for i = 1, #kv, 2 do
    local o = cjson.decode(kv[i + 1])
    out[#out + 1] = kv[i]
    out[#out + 1] = o.order_id
    out[#out + 1] = o.request_id
    out[#out + 1] = o.purchased_at_ms
  end
  return out
end

redis.register_function{function_name = 'tix_create', callback = create}
redis.register_function{function_name = 'tix_buy', callback = buy}
redis.register_function{function_name = 'tix_buy_many', callback = buy_many}
redis.register_function{function_name = 'tix_get_sale', callback = get_sale, flags = {'no-writes'}}
redis.register_function{function_name = 'tix_get_order', callback = get_order, flags = {'no-writes'}}
redis.register_function{function_name = 'tix_buyers', callback = buyers, flags = {'no-writes'}}
