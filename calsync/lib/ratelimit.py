"""Fixed-window rate limits in the cache (Redis in production), for our own endpoints.

allauth limits its own views; this covers the rest (the OAuth start and callback, the CalDAV form).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.core.cache import cache
from django.http import HttpRequest

from calsync.lib.http import client_ip


@dataclass(frozen=True)
class Limit:
    per_user: int
    per_ip: int
    period_seconds: int


def hit(key: str, limit: int, period_seconds: int) -> bool:
    """Count one hit for `key`; False once the window's count is over `limit`."""
    window = int(time.time() // period_seconds)
    cache_key = f"ratelimit:{key}:{window}"
    if cache.add(cache_key, 1, timeout=period_seconds + 1):
        return limit >= 1
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the key expired between add() and incr()
        cache.add(cache_key, 1, timeout=period_seconds + 1)
        count = 1
    return count <= limit


def request_allowed(request: HttpRequest, scope: str, limit: Limit) -> bool:
    """One hit for this person and one for their IP address; both must be within their limits."""
    ip_ok = hit(f"{scope}:ip:{client_ip(request) or 'unknown'}", limit.per_ip, limit.period_seconds)
    user_id = getattr(request.user, "pk", None)
    user_ok = user_id is None or hit(f"{scope}:user:{user_id}", limit.per_user, limit.period_seconds)
    return ip_ok and user_ok
