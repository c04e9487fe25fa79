"""Reads for the account pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils.timezone import now

from accounts.devices import describe_user_agent
from accounts.models import Session, User


@dataclass(frozen=True)
class Device:
    key_hash: str
    description: str
    ip_address: str | None
    signed_in_at: datetime
    last_seen_at: datetime
    is_current: bool


def devices_for(*, user: User, current_key_hash: str | None) -> list[Device]:
    """The person's live sessions, this device first, then most recently seen."""
    sessions = Session.objects.filter(user=user, expire_date__gt=now()).order_by("-last_seen_at")
    devices = [
        Device(
            key_hash=session.key_hash,
            description=describe_user_agent(session.user_agent),
            ip_address=session.ip_address,
            signed_in_at=session.created_at,
            last_seen_at=session.last_seen_at,
            is_current=session.key_hash == current_key_hash,
        )
        for session in sessions.only("key_hash", "user_agent", "ip_address", "created_at", "last_seen_at")
    ]
    return sorted(devices, key=lambda device: not device.is_current)
