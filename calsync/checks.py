"""System checks that warn an operator about a configuration fit only for development, and refuse one
that would leave the site open (`check --deploy`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from calsync.lib.crypto import DEV_ENCRYPTION_KEYS, current_keyring


@register(Tags.security, deploy=True)
def check_production_configuration(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    warnings = []
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        warnings.append(
            Warning(
                "DATABASE_URL is not set, so calsync runs on SQLite.",
                hint="SQLite is the zero-setup default for `make run`; set DATABASE_URL to a PostgreSQL server.",
                id="calsync.W001",
            )
        )
    if current_keyring().holds_any_of(DEV_ENCRYPTION_KEYS):
        warnings.append(
            Warning(
                "ENCRYPTION_KEYS holds the public development key.",
                hint="Generate a key (see .env.example) and set ENCRYPTION_KEYS before storing real credentials.",
                id="calsync.W002",
            )
        )
    if settings.DEBUG and not cache_is_shared():
        warnings.append(
            Warning(
                "The cache is per process, so each web process keeps its own rate-limit counters.",
                hint="Set REDIS_URL so sign-in, sign-up and reset limits are counted once for all processes.",
                id="calsync.W004",
            )
        )
    if not settings.SITE_URL:
        warnings.append(
            Warning(
                "SITE_URL is not set.",
                hint="Set it to the public address (https://calsync.example.com): links in emails that workers "
                "send (reconnect a calendar) point there, and OAuth redirect URIs must match what is registered.",
                id="calsync.W005",
            )
        )
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        warnings.append(
            Warning(
                "Celery uses the filesystem transport, which only reaches workers on this machine.",
                hint="Set CELERY_BROKER_URL or REDIS_URL to a Redis server.",
                id="calsync.W003",
            )
        )
    return warnings


# Cache backends whose counters live inside one process (or nowhere): rate limits kept there are per process.
PER_PROCESS_CACHES = ("django.core.cache.backends.locmem.LocMemCache", "django.core.cache.backends.dummy.DummyCache")


def cache_is_shared() -> bool:
    return settings.CACHES["default"]["BACKEND"] not in PER_PROCESS_CACHES


@register(Tags.security, Tags.caches, deploy=True)
def check_rate_limits_are_shared(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """allauth counts failed sign-ins, sign-ups and resets in the cache: with a per-process cache each
    gunicorn worker (and each restart) starts its own count, so the limits multiply and a lock-out is
    not one. A development server (DEBUG) is one process and gets the warning above instead."""
    if settings.DEBUG or cache_is_shared():
        return []
    return [
        Error(
            "DEBUG is off and the cache is per process, so rate limits on sign-in, sign-up and password reset "
            "are counted by each process on its own.",
            hint="Set REDIS_URL (a cache every web process shares) before serving real traffic.",
            id="calsync.E004",
        )
    ]
