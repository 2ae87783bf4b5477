"""The shared send budget in Redis (`REDIS_URL`): each operation is one Lua script, atomic on
the server and timed by the server's clock (`TIME`), through redis-py's public asyncio client.

Keys, all under the bot's prefix:

* `slots`: a sorted set of the slots in use — a member per send, scored with the moment it
  is free again (held: now + hold; answered: the answer's arrival + one second). Members
  scored in the past are removed first, so its size is what is in use.
* `chat:<id>`: present while the chat may not be written to: "held:<instance>" while a send
  to it is out, "wait" (expiring after the chat's interval or a 429's `retry_after`) after.
* `paused`: present while every instance waits (Telegram's flood control), expiring by itself.

The scripts name keys they build from the prefix, which a single server (or a Sentinel pair)
allows; a Redis Cluster would need the prefix to be a hash tag, as it is: `{…}`.
"""

from __future__ import annotations

import math
from typing import Any

from redis.asyncio import Redis

from bot.budget import Given, Taken

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slots, prefix, holder = KEYS[1], ARGV[1], ARGV[2]
local rate, hold, ahead = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local paused = redis.call('PTTL', prefix .. 'paused')
if paused > 0 then return {paused, 0} end
redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
local free = rate - redis.call('ZCARD', slots)
-- Slots answered a second ago or so, free within `ahead`: booked now, used when free.
local soon = redis.call('ZRANGEBYSCORE', slots, '(' .. now, now + ahead, 'WITHSCORES')
local next_soon = 1
local answer = {0, 0}
for i = 6, #ARGV - 1, 2 do
  local delay = -1
  if free > 0 then
    delay = 0
  elseif next_soon < #soon then
    delay = tonumber(soon[next_soon + 1]) - now
  end
  if delay < 0 then break end
  local chat, member = ARGV[i], ARGV[i + 1]
  local key = prefix .. 'chat:' .. chat
  if redis.call('SET', key, 'held:' .. holder, 'NX', 'PX', hold + delay) then
    if free > 0 then
      free = free - 1
    else
      redis.call('ZREM', slots, soon[next_soon])
      next_soon = next_soon + 2
    end
    redis.call('ZADD', slots, now + delay + hold, member)
    answer[#answer + 1] = chat
    answer[#answer + 1] = member
    answer[#answer + 1] = delay
  else
    -- A chat held by a send still out is asked for again soon, not at the end of the hold.
    local wait = redis.call('PTTL', key)
    if redis.call('GET', key) ~= 'wait' then wait = math.min(wait, 50) end
    answer[#answer + 1] = chat
    answer[#answer + 1] = ''
    answer[#answer + 1] = math.max(1, wait)
  end
end
-- The set outlives every score in it by a while, then goes (a bot that stopped for good).
redis.call('PEXPIRE', slots, 120000)
if free <= 0 and #answer == 2 then
  local first = redis.call('ZRANGE', slots, 0, 0, 'WITHSCORES')
  if first[2] then answer[2] = math.max(1, tonumber(first[2]) - now) end
end
return answer
"""

_GIVE_BACK = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slots, prefix, held = KEYS[1], ARGV[1], 'held:' .. ARGV[2]
for i = 3, #ARGV - 3, 4 do
  local member, slot_after = ARGV[i], tonumber(ARGV[i + 2])
  -- Counted even if its hold had run out meanwhile: the send happened.
  if slot_after > 0 then
    redis.call('ZADD', slots, now + slot_after, member)
  else
    redis.call('ZREM', slots, member)
  end
  local key, wait = prefix .. 'chat:' .. ARGV[i + 1], tonumber(ARGV[i + 3])
  local current = redis.call('GET', key)
  if current == false or current == held then
    if wait > 0 then redis.call('SET', key, 'wait', 'PX', wait) else redis.call('DEL', key) end
  elseif current == 'wait' and redis.call('PTTL', key) < wait then
    redis.call('SET', key, 'wait', 'PX', wait)
  end
end
redis.call('PEXPIRE', slots, 120000)
return 0
"""

_PAUSE = """
local key, ms = KEYS[1], tonumber(ARGV[1])
if redis.call('PTTL', key) < ms then redis.call('SET', key, '1', 'PX', ms) end
return 0
"""


class RedisStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = "{" + prefix.strip("{}") + "}"
        self._take = redis.register_script(_TAKE)
        self._give_back = redis.register_script(_GIVE_BACK)
        self._pause = redis.register_script(_PAUSE)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisStore:
        return cls(Redis.from_url(url), prefix)

    async def take(
        self, holder: str, wanted: list[tuple[int, str]], rate: int, hold: float, ahead: float
    ) -> Taken:
        args: list[Any] = [self.prefix, holder, rate, _ms(hold), _ms(ahead)]
        for chat_id, member in wanted:
            args += [chat_id, member]
        answer = await self._take(keys=[self.prefix + "slots"], args=args)
        paused, slot_wait, *rest = answer
        taken = Taken(paused=int(paused) / 1000, slot_wait=int(slot_wait) / 1000)
        for chat, member, ms in zip(rest[::3], rest[1::3], rest[2::3], strict=True):
            if member:
                taken.granted.append((int(chat), member.decode(), int(ms) / 1000))
            else:  # refused: how long the chat's key lasts
                taken.chat_waits[int(chat)] = int(ms) / 1000
        return taken

    async def give_back(self, holder: str, given: list[Given]) -> None:
        args: list[Any] = [self.prefix, holder]
        for item in given:
            args += [item.member, item.chat_id, _ms(item.slot_after), _ms(item.chat_after)]
        await self._give_back(keys=[self.prefix + "slots"], args=args)

    async def pause(self, seconds: float) -> None:
        await self._pause(keys=[self.prefix + "paused"], args=[max(1, _ms(seconds))])

    async def close(self) -> None:
        await self.redis.aclose()


def _ms(seconds: float) -> int:
    """Whole milliseconds, rounded up: a wait is never shortened."""
    return math.ceil(seconds * 1000)
