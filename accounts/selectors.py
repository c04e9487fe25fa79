"""Reads for the account pages, and who an email address belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allauth.account.models import EmailAddress
from django.db.models import Exists, OuterRef
from django.utils.timezone import now

from accounts.devices import describe_user_agent
from accounts.models import Session, User, normalize_email


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


def accounts_owning_email(email: str) -> list[User]:
    """The accounts an address belongs to, for sign-up, password reset and sign-in.

    An address belongs to the account that proved it (a verified address). Until someone proves it, it
    belongs to an account that signed up with it and has proved no address yet: nobody gets into that
    one without the code sent to the address, and the address's owner can take it over by resetting the
    password. An address merely stored on an account that proved another one belongs to nobody;
    allauth would count it (rows from before addresses were added by code).
    """
    email = normalize_email(email)
    verified = EmailAddress.objects.filter(user=OuterRef("pk"), verified=True)
    proved_it = list(User.objects.filter(Exists(verified.filter(email=email))))
    if proved_it:
        return proved_it
    return list(User.objects.filter(email=email).exclude(Exists(verified)))
