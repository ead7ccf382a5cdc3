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

  tix_create(sale, stock, buyers, log, sales[, ids]; sale_id, total, opens_at_ms, closes_at_ms)
    {'CREATED', total, remaining, opens_at_ms, closes_at_ms, now_ms}
    {'ALREADY_EXISTS'}                      the sale is left untouched
    {'DATA_LOSS', why}                      stock, buyers or log left without a sale
  tix_buy(sale, stock, buyers, log[, cancels]; sale_id, user_id, request_id)
    {'PURCHASED', remaining, order_id, purchased_at_ms, log_id, is_new}
    {'ALREADY_PURCHASED', remaining, order_id, purchased_at_ms, log_id, 0}
    {'ORDER_CANCELLED', remaining, order_id, purchased_at_ms, log_id, 0}
    {'SALE_NOT_OPEN', remaining, ms_until_open}
    {'SALE_CLOSED', remaining} | {'SOLD_OUT', remaining}
    {'NO_SALE'}
  tix_buy_many(sale, stock, buyers, log[, cancels]; sale_id, n, user_id_1, request_id_1, ...)
    {result_1, ..., result_n}: result_i is exactly what tix_buy would have
    answered for (user_id_i, request_id_i) called right after the i-1 before
    it (same order ids; one clock reading for the batch); a failed XADD is
    that element's error reply and every later element's (they wrote
    nothing), the orders before it stand
  tix_get_sale(sale, stock; sale_id)
    {'FOUND', total, remaining, opens_at_ms, closes_at_ms, now_ms} | {'NO_SALE'}
  tix_get_order(sale, buyers; sale_id, user_id)
    {'FOUND', order_id, request_id, purchased_at_ms, log_id}
    {'NO_SALE'} | {'NO_ORDER'}
  tix_buyers(sale, stock, buyers, log[, cancels]; sale_id, cursor)
    {'FOUND', remaining, closes_at_ms, created_at_ms, now_ms, next_cursor, version,
     user_id, order_id, request_id, purchased_at_ms, cancelled_at_ms, ...}   5 per entry
    {'NO_SALE'}         one HSCAN page of the buyers (cancelled_at_ms 0), then of the
                        cancelled requests (cursor "c<n>"); next_cursor "0" = done
  tix_close(sale, stock; sale_id)
    {'CLOSED', total, remaining, opens_at_ms, closes_at_ms, now_ms, version, created_at_ms, changed}
    {'NO_SALE'}                                 closes_at_ms := min(closes_at_ms or never, now)
  tix_cancel(sale, stock, buyers, log, cancels; sale_id, user_id, reason)
    {'CANCELLED', order_id, request_id, purchased_at_ms, cancelled_at_ms, cancel_reason,
     log_id, version, created_at_ms, is_new}    log_id: the cancel entry's
    {'NO_SALE'} | {'NO_ORDER'}
  tix_list_sales(ids, sales; page_size, page_token)
    {'FOUND', now_ms, next_token, sale_id, total, remaining, opens_at_ms, closes_at_ms, ...}
  tix_list_orders(sale, log; sale_id, page_size, page_token)
    {'FOUND', next_token, log_id, order_id, user_id, request_id, purchased_at_ms,
     cancelled_at_ms, cancel_reason, ...}       7 per log entry
    {'NO_SALE'} | {'BAD_TOKEN'}

Counters in the sale hash (absent in hashes written before they existed:
read as 0): cancelled, orders cancelled; version, bumped by every close and
cancel that changes the sale, so that a cache of the sale (the broker's
sold-out edge) can tell it changed.
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
  local v = redis.call('HMGET', key, 'total', 'opens_at_ms', 'closes_at_ms', 'created_at_ms', 'cancelled',
                       'version')
  if not v[1] and not v[2] and not v[3] then
    return nil
  end
  if not tonumber(v[1]) or not tonumber(v[2]) or not tonumber(v[3]) then
    return nil, 'sale hash lacks total, opens_at_ms or closes_at_ms'
  end
  return {total = v[1], opens = v[2], closes = v[3], created = tonumber(v[4]) and v[4] or '0',
          cancelled = tonumber(v[5]) or 0, version = tonumber(v[6]) or 0}
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

-- Every live order is one buyer: total - stock of them. Every order ever
-- sold is one log entry, and every cancel one more (its purchase entry
-- stays): the log holds (total - stock) + 2 x cancelled entries. A sale
-- whose counts disagree lost keys (a deleted buyers hash would let a buyer
-- buy again; a deleted log would break the persister's replay), so it sells
-- nothing more. HLEN and XLEN are O(1).
local function check_counts(sale, stock, buyers_key, log_key)
  local live = tonumber(sale.total) - stock
  local held, logged = redis.call('HLEN', buyers_key), redis.call('XLEN', log_key)
  if held ~= live or logged ~= live + 2 * sale.cancelled then
    return {'DATA_LOSS', string.format('total - stock is %d and %d were cancelled, but the sale has %d buyers ' ..
                                       'and %d log entries', live, sale.cancelled, held, logged)}
  end
  return nil
end

-- The cancels hash's fields: 'r' .. user_id .. LF .. request_id for each
-- cancelled request (a user_id holds no control character, so the first LF
-- ends it), and 'u' .. user_id for the user's last cancelled order. Both
-- hold the cancelled order as JSON.
local function cancel_field(user_id, request_id)
  return 'r' .. user_id .. '\n' .. request_id
end

-- The default name of the sorted set of sale ids, in tix:sales's slot.
local SALE_IDS = '{tix:sales}:ids'

-- read_sale_and_stock, then check_counts: what every function that sells
-- or changes a sale's buyers reads first (sale, stock, and an answer to
-- return at once when the sale is missing or its counts disagree).
local function read_checked_sale(sale_key, stock_key, buyers_key, log_key)
  local sale, stock, answer = read_sale_and_stock(sale_key, stock_key)
  if not answer then
    answer = check_counts(sale, stock, buyers_key, log_key)
  end
  return sale, stock, answer
end

local function create(keys, args)
  local sale_key, stock_key, buyers_key, log_key, sales_key = keys[1], keys[2], keys[3], keys[4], keys[5]
  local ids_key = keys[6] or SALE_IDS
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
  redis.call('ZADD', ids_key, 0, sale_id)
  return {'CREATED', total, total, opens, closes, now}
end

-- The key of a sale's cancels hash: keys[i] when the caller passed it,
-- else named after the sale key (tix:{S}:sale -> tix:{S}:cancels).
local function cancels_key_of(keys, i)
  return keys[i] or (keys[1]:sub(1, -5) .. 'cancels')
end

-- Sells one ticket. The checks run in this order so that a buyer who
-- retries after the sale closed or sold out still gets their order back,
-- and a retry of a cancelled request gets its cancelled order back (never
-- a new ticket). An empty request_id is one request id like any other: a
-- user whose order bought without one was cancelled buys again only with a
-- non-empty request_id.
local function buy(keys, args)
  local sale_key, stock_key, buyers_key, log_key = keys[1], keys[2], keys[3], keys[4]
  local sale_id, user_id, request_id = args[1], args[2], args[3] or ''
  local sale, stock, answer = read_checked_sale(sale_key, stock_key, buyers_key, log_key)
  if answer then
    return answer
  end
  local remaining = math.max(stock, 0)
  if sale.cancelled > 0 then
    local gone = redis.call('HGET', cancels_key_of(keys, 5), cancel_field(user_id, request_id))
    if gone then
      local o = cjson.decode(gone)
      return {'ORDER_CANCELLED', remaining, o.order_id, o.purchased_at_ms, o.log_id, 0}
    end
  end
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
  -- S:<incarnation>:<n>. n counts every order ever sold: the live ones
  -- (total - stock) and the cancelled ones. That count only ever goes up
  -- (a cancel gives stock back but adds to cancelled), so a cancelled
  -- order's number is never handed out again, and check_counts refused a
  -- sale whose buyers or log went missing; the incarnation (created_at_ms,
  -- base 36) keeps the id unique when a Redis that lost the sale sees it
  -- created again, while the persister's store still holds the earlier
  -- incarnation's orders.
  remaining = stock - 1
  local n = tonumber(sale.total) - stock + sale.cancelled + 1
  local order_id = sale_id .. ':' .. base36(sale.created) .. ':' .. string.format('%d', n)
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

-- Closes the sale now (Redis's clock); a sale closed already keeps its
-- earlier close. Only a change bumps the version.
local function close(keys, args)
  local sale_key = keys[1]
  local sale, stock, answer = read_sale_and_stock(sale_key, keys[2])
  if answer then
    return answer
  end
  local now = now_ms()
  local closes, version, changed = tonumber(sale.closes), sale.version, 0
  if closes == 0 or closes > now then
    closes, version, changed = now, version + 1, 1
    redis.call('HSET', sale_key, 'closes_at_ms', string.format('%d', now), 'version', version)
  end
  return {'CLOSED', sale.total, math.max(stock, 0), sale.opens, closes, now, version, sale.created, changed}
end

local function cancelled_reply(o, version, created, is_new)
  return {'CANCELLED', o.order_id, o.request_id, o.purchased_at_ms, o.cancelled_at_ms, o.cancel_reason,
          o.cancel_log_id, version, created, is_new}
end

-- Gives the user's live order back to the sale, in one step: the cancel
-- entry in the log (first: if it fails nothing is written), stock + 1, the
-- buyer gone, the cancelled order remembered for retries of its request
-- and for a second cancel. A user with no live order gets their last
-- cancelled order back (cancelling twice is cancelling once).
local function cancel(keys, args)
  local sale_key, stock_key, buyers_key, log_key = keys[1], keys[2], keys[3], keys[4]
  local cancels_key = cancels_key_of(keys, 5)
  local sale_id, user_id, reason = args[1], args[2], args[3] or ''
  local sale, stock, answer = read_checked_sale(sale_key, stock_key, buyers_key, log_key)
  if answer then
    return answer
  end
  local held = redis.call('HGET', buyers_key, user_id)
  if not held then
    local last = redis.call('HGET', cancels_key, 'u' .. user_id)
    if not last then
      return {'NO_ORDER'}
    end
    return cancelled_reply(cjson.decode(last), sale.version, sale.created, 0)
  end
  local o = cjson.decode(held)
  local at = string.format('%d', now_ms())
  o.cancel_log_id = redis.call('XADD', log_key, '*', 'kind', 'cancel', 'order_id', o.order_id,
                               'sale_id', sale_id, 'user_id', user_id, 'request_id', o.request_id,
                               'purchased_at_ms', o.purchased_at_ms, 'cancelled_at_ms', at,
                               'cancel_reason', reason)
  o.cancelled_at_ms, o.cancel_reason = at, reason
  local version = sale.version + 1
  redis.call('HSET', sale_key, 'cancelled', sale.cancelled + 1, 'version', version)
  redis.call('INCR', stock_key)
  redis.call('HDEL', buyers_key, user_id)
  local record = cjson.encode(o)
  redis.call('HSET', cancels_key, cancel_field(user_id, o.request_id), record, 'u' .. user_id, record)
  return cancelled_reply(o, version, sale.created, 1)
end

-- tix_buy_many's answer to every purchase when the sale cannot sell
-- (NO_SALE, DATA_LOSS): what each tix_buy would have answered.
local function all_answer(n, answer)
  local out = {}
  for i = 1, n do
    out[i] = answer
  end
  return out
end

-- One purchase of a batch, decided against the batch's running state b
-- (stock, the orders seen so far by user) exactly as buy() decides it
-- against the keys; a new order is written to the log here (XADD first)
-- and left in b for the one stock write and the one buyers write at the
-- end. Returns the answer, or nil and the error of a failed XADD.
local function buy_one(b, user_id, request_id, held, gone)
  local remaining = math.max(b.stock, 0)
  if gone then
    local o = cjson.decode(gone)
    return {'ORDER_CANCELLED', remaining, o.order_id, o.purchased_at_ms, o.log_id, 0}
  end
  local o = b.orders[user_id]
  if o == nil and held then
    o = cjson.decode(held)
    b.orders[user_id] = o
  end
  if o then
    return {o.request_id == request_id and 'PURCHASED' or 'ALREADY_PURCHASED', remaining, o.order_id,
            o.purchased_at_ms, o.log_id, 0}
  end
  b.now = b.now or now_ms()
  if b.now < b.opens then
    return {'SALE_NOT_OPEN', remaining, b.opens - b.now}
  end
  if b.closes ~= 0 and b.now >= b.closes then
    return {'SALE_CLOSED', remaining}
  end
  if b.stock <= 0 then
    return {'SOLD_OUT', 0}
  end
  -- The order's number as buy() counts it, with the stock this batch has
  -- left so far.
  local order_id = b.prefix .. string.format('%d', b.total - b.stock + b.cancelled + 1)
  local at = string.format('%d', b.now)
  local log_id = redis.pcall('XADD', b.log_key, '*', 'order_id', order_id, 'sale_id', b.sale_id,
                             'user_id', user_id, 'request_id', request_id, 'purchased_at_ms', at)
  if type(log_id) == 'table' and log_id.err then
    return nil, log_id.err
  end
  b.stock = b.stock - 1
  o = {order_id = order_id, request_id = request_id, purchased_at_ms = at, log_id = log_id}
  b.orders[user_id] = o
  b.writes[#b.writes + 1] = user_id
  b.writes[#b.writes + 1] = cjson.encode(o)
  return {'PURCHASED', b.stock, order_id, at, log_id, 1}
end

-- Several purchases of one sale in one call, each answered exactly as
-- tix_buy called for it right after the ones before it would answer, at
-- a fraction of the cost: the sale, stock, counts, buyers, cancelled
-- requests and clock are read once, each purchase is decided in Lua
-- against the running state, a new order costs its XADD, and the stock
-- and the buyers are written once at the end. The call is atomic, so no
-- one sees the state between two of its purchases. The clock is read
-- once: every purchase of a batch is made at the same instant.
--
-- A failed XADD (nothing short of a broken log makes one fail) ends the
-- batch: the orders before it stand, written in full (log, buyers, stock
-- agree); that purchase and every later one answer the error, having
-- written nothing, so a retry of any of them decides it afresh.
local function buy_many(keys, args)
  local n = tonumber(args[2])
  if not n or n < 1 or n ~= math.floor(n) or #args ~= 2 + 2 * n then
    return redis.error_reply('ERR tix_buy_many: want sale_id, n, then n pairs of user_id and request_id')
  end
  local sale_key, stock_key, buyers_key, log_key = keys[1], keys[2], keys[3], keys[4]
  local sale, stock, answer = read_sale_and_stock(sale_key, stock_key)
  answer = answer or check_counts(sale, stock, buyers_key, log_key)
  if answer then
    return all_answer(n, answer)
  end
  local users, fields = {}, {}
  for i = 1, n do
    users[i] = args[1 + 2 * i]
    fields[i] = cancel_field(users[i], args[2 + 2 * i])
  end
  local held = redis.call('HMGET', buyers_key, unpack(users))
  local gone = sale.cancelled > 0 and redis.call('HMGET', cancels_key_of(keys, 5), unpack(fields)) or {}
  local b = {stock = stock, total = tonumber(sale.total), cancelled = sale.cancelled, opens = tonumber(sale.opens),
             closes = tonumber(sale.closes), sale_id = args[1], log_key = log_key, orders = {}, writes = {},
             prefix = args[1] .. ':' .. base36(sale.created) .. ':'}
  local out, failed = {}, nil
  for i = 1, n do
    if failed then
      out[i] = {err = failed}
    else
      out[i], failed = buy_one(b, users[i], args[2 + 2 * i], held[i], gone[i])
      out[i] = out[i] or {err = failed}
    end
  end
  if #b.writes > 0 then
    redis.call('DECRBY', stock_key, stock - b.stock)
    redis.call('HSET', buyers_key, unpack(b.writes))
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
-- edge (after the same count check as tix_buy), then pages of its
-- cancelled requests (cursor "c<n>"), which the edge needs to answer their
-- retries ORDER_CANCELLED. HSCAN may return an entry twice across pages
-- (harmless: same record). COUNT 100 keeps a page well under the broker's
-- 64 KiB message limit.
local function buyers(keys, args)
  local sale, stock, answer = read_checked_sale(keys[1], keys[2], keys[3], keys[4])
  if answer then
    return answer
  end
  local cursor = args[2] ~= '' and args[2] or '0'
  local in_cancels = cursor:sub(1, 1) == 'c'
  local page, next_cursor
  if in_cancels then
    page = redis.call('HSCAN', cancels_key_of(keys, 5), cursor:sub(2), 'MATCH', 'r*', 'COUNT', 100)
    next_cursor = page[1] == '0' and '0' or 'c' .. page[1]
  else
    page = redis.call('HSCAN', keys[3], cursor, 'COUNT', 100)
    next_cursor = (page[1] == '0' and sale.cancelled > 0) and 'c0' or page[1]
  end
  -- created_at_ms tells this incarnation of the sale from a later one of
  -- the same id, version a cancel or close since; now_ms is Redis's
  -- clock, which decides the close.
  local out = {'FOUND', math.max(stock, 0), sale.closes, sale.created, now_ms(), next_cursor, sale.version}
  local kv = page[2]
  for i = 1, #kv, 2 do
    local o, user_id, request_id = cjson.decode(kv[i + 1]), kv[i], nil
    if in_cancels then
      local lf = kv[i]:find('\n', 2, true)
      user_id, request_id = kv[i]:sub(2, lf - 1), kv[i]:sub(lf + 1)
    else
      request_id = o.request_id
    end
    out[#out + 1] = user_id
    out[#out + 1] = o.order_id
    out[#out + 1] = request_id
    out[#out + 1] = o.purchased_at_ms
    out[#out + 1] = in_cancels and o.cancelled_at_ms or 0
  end
  return out
end

-- Page size: 0 is the default, 100.
local function page_size(arg)
  local n = tonumber(arg) or 0
  return n > 0 and n or 100
end

-- One page of the sale ids, in id order from after page_token, each with
-- its sale. A sorted set (every score 0) read by ZRANGEBYLEX lists every
-- id exactly once however many are added meanwhile (SSCAN over a set that
-- grows may repeat). The sale hashes and stocks are read by name: tix runs
-- on one Redis (or a Sentinel set), not on a Cluster. Ids from before the
-- sorted set existed are copied into it from tix:sales on the first page.
local function list_sales(keys, args)
  local ids_key, sales_key = keys[1], keys[2]
  local n, token = page_size(args[1]), args[2] or ''
  if token == '' and redis.call('SCARD', sales_key) > redis.call('ZCARD', ids_key) then
    for _, id in ipairs(redis.call('SMEMBERS', sales_key)) do
      redis.call('ZADD', ids_key, 'NX', 0, id)
    end
  end
  local ids = redis.call('ZRANGEBYLEX', ids_key, token == '' and '-' or '(' .. token, '+', 'LIMIT', 0, n)
  local out = {'FOUND', now_ms(), #ids == n and ids[#ids] or ''}
  for _, id in ipairs(ids) do
    local sale = read_sale('tix:{' .. id .. '}:sale')
    local stock = tonumber(redis.call('GET', 'tix:{' .. id .. '}:stock'))
    if sale and stock then -- a sale Redis no longer holds is not listed
      out[#out + 1] = id
      out[#out + 1] = sale.total
      out[#out + 1] = math.max(stock, 0)
      out[#out + 1] = sale.opens
      out[#out + 1] = sale.closes
    end
  end
  return out
end

-- One page of the sale's order log from after page_token (a log entry id),
-- each entry flattened: a purchase has cancelled_at_ms 0.
local function list_orders(keys, args)
  local sale_key, log_key = keys[1], keys[2]
  local n, token = page_size(args[2]), args[3] or ''
  if redis.call('EXISTS', sale_key) == 0 then
    return {'NO_SALE'}
  end
  if token ~= '' and not token:match('^%d+%-%d+$') then
    return {'BAD_TOKEN'}
  end
  local entries = redis.call('XRANGE', log_key, token == '' and '-' or '(' .. token, '+', 'COUNT', n)
  local out = {'FOUND', #entries == n and entries[#entries][1] or ''}
  for _, e in ipairs(entries) do
    local f = {}
    for i = 1, #e[2], 2 do
      f[e[2][i]] = e[2][i + 1]
    end
    out[#out + 1] = e[1]
    out[#out + 1] = f.order_id or ''
    out[#out + 1] = f.user_id or ''
    out[#out + 1] = f.request_id or ''
    out[#out + 1] = f.purchased_at_ms or '0'
    out[#out + 1] = f.cancelled_at_ms or '0'
    out[#out + 1] = f.cancel_reason or ''
  end
  return out
end

redis.register_function{function_name = 'tix_create', callback = create}
redis.register_function{function_name = 'tix_buy', callback = buy}
redis.register_function{function_name = 'tix_buy_many', callback = buy_many}
redis.register_function{function_name = 'tix_get_sale', callback = get_sale, flags = {'no-writes'}}
redis.register_function{function_name = 'tix_get_order', callback = get_order, flags = {'no-writes'}}
redis.register_function{function_name = 'tix_buyers', callback = buyers, flags = {'no-writes'}}
redis.register_function{function_name = 'tix_close', callback = close}
redis.register_function{function_name = 'tix_cancel', callback = cancel}
redis.register_function{function_name = 'tix_list_sales', callback = list_sales}
redis.register_function{function_name = 'tix_list_orders', callback = list_orders, flags = {'no-writes'}}
