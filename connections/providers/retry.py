"""Bounded retries of one provider request: exponential backoff with full jitter, honouring Retry-After.

Only transient failures are retried (429, 5xx, timeouts, resets: `ProviderError` that is not permanent,
and not a 401, which the credentials service answers with a refresh). A wait longer than the cap is not
slept through in a worker: the error goes up and the connection backs off until then.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from django.conf import settings

from connections.providers.base import ProviderError, TokenRejected

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Jitter spreads retries of many workers; it is not a secret.
_jitter = random.Random()  # noqa: S311  # nosec B311


# Called before every provider request of the current context: the sync renews its lease here, so a long
# page (many requests, retries with waits) cannot outlive it.
_before_request: ContextVar[Callable[[], None] | None] = ContextVar("before_provider_request", default=None)


@contextlib.contextmanager
def before_each_request(hook: Callable[[], None]) -> Iterator[None]:
    token = _before_request.set(hook)
    try:
        yield
    finally:
        _before_request.reset(token)


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Full jitter (a uniform wait up to base * 2**attempt, capped): retries of many clients spread out."""
    return _jitter.uniform(0, min(cap, base * 2**attempt))


def with_retries(request: Callable[[], T], *, what: str, sleep: Callable[[float], None] = time.sleep) -> T:
    attempt = 0
    while True:
        hook = _before_request.get()
        if hook is not None:
            hook()
        try:
            return request()
        except TokenRejected:
            raise
        except ProviderError as exc:
            wait = _wait_before_retry(exc, attempt)
            if wait is None:
                raise
            attempt += 1
            logger.info("%s failed (%s); retry %d in %.1fs", what, exc, attempt, wait)
            sleep(wait)


def _wait_before_retry(exc: ProviderError, attempt: int) -> float | None:
    """Seconds to wait before the next attempt, or None to give up now."""
    cap = settings.PROVIDER_RETRY_MAX_WAIT_SECONDS
    if exc.permanent or attempt + 1 >= settings.PROVIDER_RETRY_ATTEMPTS:
        return None
    if exc.retry_after is not None and exc.retry_after > cap:
        return None
    wait = backoff_seconds(attempt, base=settings.PROVIDER_RETRY_BASE_SECONDS, cap=cap)
    return max(wait, exc.retry_after or 0.0)
