"""Slowing down repeated refused access keys from one address.

Keys are 256-bit, so guessing one is hopeless; this is about noise and cost: a client sending wrong
keys in a loop gets `401` for the first `failed_auth_limit_per_minute` refusals in any minute,
then `429 Too Many Requests` with `Retry-After` until its window has room again. Callers with a valid
key are never slowed, even from the same address (a council office behind one NAT address).
The windows are kept in memory, per API process (`limits`' moving window)."""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


class FailedAuthThrottle:
    def __init__(self, per_minute: int) -> None:
        self._item = RateLimitItemPerMinute(per_minute)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def refused(self, source: str) -> int | None:
        """Count one refused key from `source`. None while under the limit; else the seconds to wait."""
        if await self._limiter.hit(self._item, source):
            return None
        stats = await self._limiter.get_window_stats(self._item, source)
        return max(1, math.ceil(stats.reset_time - time.time()))


class SignInLockout:
    """An account is locked for `minutes` after `failures` wrong passwords within that time (a moving
    window per username, in memory per API process). While locked, even the right password is
    refused, so guessing gains nothing; the window empties by itself."""

    def __init__(self, failures: int, minutes: int) -> None:
        self._item = RateLimitItemPerMinute(failures, minutes)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def locked(self, username: str) -> bool:
        return not await self._limiter.test(self._item, username)

    async def failed(self, username: str) -> None:
        await self._limiter.hit(self._item, username)

    async def succeeded(self, username: str) -> None:
        await self._limiter.clear(self._item, username)
