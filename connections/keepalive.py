"""Keeping idle grants alive: refresh tokens lapse when unused (Google's after six months, Microsoft's after
90 days), so an account the sync has not used for a while is refreshed once a week.

Access tokens are refreshed on use by the sync; refreshing every token every hour, as the original design's
job did, spends provider quota for nothing. A grant withdrawn at the provider surfaces here, days before
anyone needs it: the account turns to "needs reconnect" and the person gets one email.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils.timezone import now

from connections.credentials import account_refresh
from connections.models import AccountStatus, ProviderAccount
from connections.providers.base import AuthRevoked, ProviderError
from connections.providers.registry import ADAPTERS

logger = logging.getLogger(__name__)


@dataclass
class KeepAliveReport:
    refreshed: int = 0
    needs_reconnect: int = 0
    failures: list[str] = field(default_factory=list)  # "account 12 (google): reason", to retry next hour


def oauth_providers() -> list[str]:
    return [provider for provider, adapter in ADAPTERS.items() if adapter.uses_oauth]


def accounts_idle(*, idle_days: int, at: datetime | None = None) -> QuerySet[ProviderAccount]:
    """Active OAuth accounts with a refresh token, neither used nor refreshed in `idle_days`."""
    cutoff = (at or now()) - timedelta(days=idle_days)
    return (
        ProviderAccount.objects.filter(
            status=AccountStatus.ACTIVE, provider__in=oauth_providers(), refresh_token__isnull=False
        )
        .filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=cutoff))
        .filter(Q(last_refreshed_at__isnull=True) | Q(last_refreshed_at__lt=cutoff))
        .select_related("user")
        .order_by("pk")
    )


def accounts_keep_alive(
    *, accounts: QuerySet[ProviderAccount], progress: Callable[[str], None] | None = None
) -> KeepAliveReport:
    """Refresh each account's grant now; a withdrawn grant marks the account (inside account_refresh)."""
    report = KeepAliveReport()
    # The secrets are read again under a row lock by account_refresh; the list needs none of them.
    for account in accounts.defer(*ProviderAccount.SECRET_FIELDS).iterator(chunk_size=200):
        label = f"account {account.pk} ({account.provider})"
        try:
            account_refresh(account, force=True)
        except AuthRevoked as revoked:
            report.needs_reconnect += 1
            outcome = f"needs reconnect: {revoked}"
        except ProviderError as exc:  # the provider is down or limiting us: the next hour tries again
            report.failures.append(f"{label}: {exc}")
            logger.warning("could not refresh %s: %s", label, exc)
            outcome = f"failed: {exc}"
        except Exception as exc:  # e.g. a secret under a removed key: this account only, never the rest
            report.failures.append(f"{label}: {type(exc).__name__}")
            logger.exception("could not refresh %s", label)
            outcome = f"failed: {type(exc).__name__}"
        else:
            report.refreshed += 1
            outcome = "refreshed"
        if progress is not None:
            progress(f"{label}: {outcome}")
    return report
