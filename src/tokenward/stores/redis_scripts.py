"""The Lua scripts behind ``RedisStore``, one per change so that each is atomic. ``KEYS[1]``
is the store's prefix; the key layout is described in ``tokenward.stores.redis``."""

from __future__ import annotations

__all__ = ["ADD", "DELETE", "GET", "RENAME", "REPLACE", "SAVE", "USAGE"]

# The request path's read: digest index, record and last use, answered as one string, which
# redis-py reads with less work than a list of three: the record's length, a line break, the
# record's JSON, the last-use time (or nothing), a line break, the last-use address (or
# nothing). The length keeps it unambiguous whatever the fields hold.
GET = """
local id = redis.call('GET', KEYS[1] .. 'd:' .. ARGV[1])
if not id then return nil end
local record = redis.call('GET', KEYS[1] .. 't:' .. id)
if not record then return nil end
local used = redis.call('HMGET', KEYS[1] .. 'lu:' .. id, 'at', 'ip')
return #record .. '\\n' .. record .. (used[1] or '') .. '\\n' .. (used[2] or '')
"""

# ARGV: id, json, digest, previous digest or '', realm, user, name
ADD = """
local p = KEYS[1]
local name_key = p .. 'n:' .. ARGV[5] .. ':' .. ARGV[6] .. ':' .. ARGV[7]
if redis.call('EXISTS', p .. 't:' .. ARGV[1]) == 1 or redis.call('EXISTS', name_key) == 1
   or redis.call('EXISTS', p .. 'd:' .. ARGV[3]) == 1
   or (ARGV[4] ~= '' and redis.call('EXISTS', p .. 'd:' .. ARGV[4]) == 1) then
  return 0
end
redis.call('SET', p .. 't:' .. ARGV[1], ARGV[2])
redis.call('SET', name_key, ARGV[1])
redis.call('SET', p .. 'd:' .. ARGV[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('SET', p .. 'd:' .. ARGV[4], ARGV[1]) end
redis.call('SADD', p .. 'u:' .. ARGV[5] .. ':' .. ARGV[6], ARGV[1])
redis.call('SADD', p .. 'all', ARGV[1])
return 1
"""

# Removes a record's index entries; shared by save, delete and rename.
_UNINDEX = """
local function unindex(p, id)
  local raw = redis.call('GET', p .. 't:' .. id)
  if not raw then return nil end
  local old = cjson.decode(raw)
  redis.call('DEL', p .. 'n:' .. old.realm .. ':' .. old.user .. ':' .. old.name)
  redis.call('DEL', p .. 'd:' .. old.digest)
  if old.previous_digest then redis.call('DEL', p .. 'd:' .. old.previous_digest) end
  redis.call('SREM', p .. 'u:' .. old.realm .. ':' .. old.user, id)
  return old
end
local function free(p, id, key)
  local owner = redis.call('GET', key)
  return (not owner) or owner == id
end
local function index(p, id, raw, realm, user, name, digest, previous)
  redis.call('SET', p .. 't:' .. id, raw)
  redis.call('SET', p .. 'n:' .. realm .. ':' .. user .. ':' .. name, id)
  redis.call('SET', p .. 'd:' .. digest, id)
  if previous ~= '' then redis.call('SET', p .. 'd:' .. previous, id) end
  redis.call('SADD', p .. 'u:' .. realm .. ':' .. user, id)
end
"""

# ARGV: id, the record's JSON as read, the JSON to write. Compare-and-set on the whole
# document, so a rotation, edit or revocation since the read wins. Returns 1 when written.
REPLACE = """
local key = KEYS[1] .. 't:' .. ARGV[1]
if redis.call('GET', key) ~= ARGV[2] then return 0 end
redis.call('SET', key, ARGV[3])
return 1
"""

# ARGV as for _ADD. Returns -1 when the token is gone, 0 on a clash, 1 when saved.
SAVE = (
    _UNINDEX
    + """
local p = KEYS[1]
if redis.call('EXISTS', p .. 't:' .. ARGV[1]) == 0 then return -1 end
if not free(p, ARGV[1], p .. 'n:' .. ARGV[5] .. ':' .. ARGV[6] .. ':' .. ARGV[7])
   or not free(p, ARGV[1], p .. 'd:' .. ARGV[3])
   or (ARGV[4] ~= '' and not free(p, ARGV[1], p .. 'd:' .. ARGV[4])) then
  return 0
end
unindex(p, ARGV[1])
index(p, ARGV[1], ARGV[2], ARGV[5], ARGV[6], ARGV[7], ARGV[3], ARGV[4])
return 1
"""
)

# ARGV: ids. Returns how many were removed.
DELETE = (
    _UNINDEX
    + """
local p = KEYS[1]
local removed = 0
for _, id in ipairs(ARGV) do
  if unindex(p, id) then
    redis.call('DEL', p .. 't:' .. id, p .. 'lu:' .. id, p .. 'uc:' .. id)
    redis.call('SREM', p .. 'all', id)
    removed = removed + 1
  end
end
return removed
"""
)

# ARGV: realm, old user, new user. Returns the count, or -1 on a name clash (nothing moved).
RENAME = (
    _UNINDEX
    + """
local p = KEYS[1]
local ids = redis.call('SMEMBERS', p .. 'u:' .. ARGV[1] .. ':' .. ARGV[2])
for _, id in ipairs(ids) do
  local old = cjson.decode(redis.call('GET', p .. 't:' .. id))
  if redis.call('EXISTS', p .. 'n:' .. ARGV[1] .. ':' .. ARGV[3] .. ':' .. old.name) == 1 then
    return -1
  end
end
for _, id in ipairs(ids) do
  local old = unindex(p, id)
  old.user = ARGV[3]
  index(p, id, cjson.encode(old), old.realm, old.user, old.name, old.digest,
        old.previous_digest or '')
end
return #ids
"""
)

# ARGV: the oldest day to keep, the seconds a count hash outlives its last write, then for
# each usage: id, at, ip, n, and n pairs of day and requests. One script for the whole
# batch, so it applies entirely or not at all. The last use only ever moves forward; counts
# are added (HINCRBY), and a day's first count prunes the days that fell out of the window.
USAGE = """
local p = KEYS[1]
local oldest = tonumber(ARGV[1])
local i = 3
while i <= #ARGV do
  local id, at, ip, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  i = i + 4
  if redis.call('EXISTS', p .. 't:' .. id) == 1 then
    local current = redis.call('HGET', p .. 'lu:' .. id, 'at')
    if not current or tonumber(current) <= tonumber(at) then
      redis.call('HSET', p .. 'lu:' .. id, 'at', at, 'ip', ip)
    end
    if n > 0 then
      local key = p .. 'uc:' .. id
      local new_day = false
      for j = 0, n - 1 do
        local requests = tonumber(ARGV[i + 2 * j + 1])
        if redis.call('HINCRBY', key, ARGV[i + 2 * j], requests) == requests then
          new_day = true
        end
      end
      if new_day then
        for _, day in ipairs(redis.call('HKEYS', key)) do
          if tonumber(day) < oldest then redis.call('HDEL', key, day) end
        end
      end
      redis.call('EXPIRE', key, ARGV[2])
    end
  end
  i = i + 2 * n
end
return 1
"""
