"""Account services: the writes the views, tasks and commands of this app share."""

from __future__ import annotations

from django.utils.timezone import now

from accounts.models import Session


def sessions_clear_expired() -> int:
    """Delete session rows past their expiry; returns how many went."""
    deleted, _ = Session.objects.filter(expire_date__lt=now()).delete()
    return deleted
