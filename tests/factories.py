"""Small builders for rows the tests need; plain functions over the real models."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils.timezone import now

from accounts.models import User
from connections.models import CalendarConnection, Provider, ProviderAccount
from events.models import CalendarEvent


def make_account(user: User, provider: str = Provider.GOOGLE, **fields: Any) -> ProviderAccount:
    defaults: dict[str, Any] = {
        "external_id": f"{provider}-{user.pk}-{ProviderAccount.objects.count()}",
        "email": user.email,
    }
    return ProviderAccount.objects.create(user=user, provider=provider, **{**defaults, **fields})


def make_connection(account: ProviderAccount, **fields: Any) -> CalendarConnection:
    defaults: dict[str, Any] = {
        "user": account.user,
        "remote_id": f"calendar-{CalendarConnection.objects.count()}",
        "name": "Work",
    }
    return CalendarConnection.objects.create(account=account, **{**defaults, **fields})


def make_event(connection: CalendarConnection, start: datetime | None = None, **fields: Any) -> CalendarEvent:
    start = start or now()
    defaults: dict[str, Any] = {
        "provider_event_id": f"event-{CalendarEvent.objects.count()}",
        "title": "Stand-up",
        "end": start + timedelta(minutes=30),
        "timezone": "Europe/Berlin",
    }
    return CalendarEvent.objects.create(connection=connection, start=start, **{**defaults, **fields})
