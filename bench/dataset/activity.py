"""A person's history around their calendars: audit rows (COPY; the table's trigger lets INSERT through) and
OAuth states (through the model, so the flow is encrypted by its field)."""

from __future__ import annotations

import hashlib
import ipaddress
import random
from datetime import datetime, timedelta

from audit.models import AuditAction
from bench.dataset import copy_text
from bench.dataset import vocabulary as words
from bench.dataset.people import PersonPlan
from connections.models import OAuthState

AUDIT_COLUMNS = (
    "created_at",
    "action",
    "actor_id",
    "actor_email",
    "subject_user_id",
    "subject_email",
    "target_type",
    "target_id",
    "ip_address",
    "user_agent",
    "metadata",
)
# What people do, by weight: mostly signing in and out, some edits, rare security events.
ACTIONS = (
    (AuditAction.ACCOUNT_SIGNED_IN, 55),
    (AuditAction.ACCOUNT_SIGNED_OUT, 12),
    (AuditAction.ACCOUNT_SIGN_IN_FAILED, 5),
    (AuditAction.EVENT_CREATED, 8),
    (AuditAction.EVENT_UPDATED, 10),
    (AuditAction.EVENT_DELETED, 4),
    (AuditAction.ACCOUNT_SESSION_ENDED, 2),
    (AuditAction.ACCOUNT_PASSWORD_CHANGED, 1),
    (AuditAction.ACCOUNT_DATA_EXPORTED, 1),
    (AuditAction.ACCOUNT_MFA_ENABLED, 1),
    (AuditAction.EVENT_CONFLICT, 1),
)
AUDIT_PER_PERSON = 50
CONNECTION_TARGET = "connections.calendarconnection"
EVENT_TARGET = "events.calendarevent"


def audit_lines(rng: random.Random, plan: PersonPlan, now: datetime) -> list[str]:
    user = plan.user
    email = user.email
    ips = [_ip(rng) for _ in range(rng.randint(1, 4))]
    agent = rng.choice(words.USER_AGENTS)
    rows: list[tuple[datetime, str, str, str, dict[str, object]]] = [
        (user.created_at, AuditAction.ACCOUNT_SIGNED_UP, "", "", {})
    ]
    for connection in plan.connections:
        rows.append(
            (
                connection.created_at,
                AuditAction.CONNECTION_CONNECTED,
                CONNECTION_TARGET,
                str(connection.pk),
                {"provider": connection.account.provider},
            )
        )
    for account in plan.accounts:
        rows.append(
            (
                account.created_at,
                AuditAction.CONNECTION_CALENDARS_CHOSEN,
                "connections.provideraccount",
                str(account.pk),
                {"calendars": len(plan.connections)},
            )
        )
    actions, weights = zip(*ACTIONS, strict=True)
    span = max((now - user.created_at).total_seconds(), 3600.0)
    wanted = AUDIT_PER_PERSON + rng.randint(-20, 20)
    while len(rows) < wanted:
        action = rng.choices(actions, weights)[0]
        when = now - timedelta(seconds=span * rng.random() ** 1.5)  # more activity recently
        target_type, target_id, metadata = "", "", {}
        if action.startswith("event."):
            target_type, target_id = EVENT_TARGET, str(rng.randint(1, 10**7))
            metadata = {"connection": plan.connections[0].pk, "scope": "event"}
        elif action == AuditAction.ACCOUNT_SIGN_IN_FAILED:
            metadata = {"email": email, "step": "password"}
        rows.append((when, action, target_type, target_id, metadata))
    return [
        copy_text.line(
            [
                copy_text.instant(when),
                action,
                str(user.pk) if action != AuditAction.ACCOUNT_SIGN_IN_FAILED else copy_text.NULL,
                email if action != AuditAction.ACCOUNT_SIGN_IN_FAILED else "",
                str(user.pk),
                email,
                target_type,
                target_id,
                rng.choice(ips),
                copy_text.text(agent),
                copy_text.jsonb(metadata),
            ]
        )
        for when, action, target_type, target_id, metadata in rows
    ]


def oauth_states(rng: random.Random, plan: PersonPlan, now: datetime) -> list[OAuthState]:
    """The person's recent authorizations: most consumed, some abandoned (expired), a few in progress."""
    states = []
    for _ in range(rng.choice((0, 1, 1, 1, 2, 3))):
        provider = rng.choice(("google", "microsoft"))
        created = now - timedelta(minutes=rng.choice((2, 5, 60, 600, 3000, 20000)))
        state_text = _urlsafe(rng, 43)
        verifier = _urlsafe(rng, 64)
        flow: dict[str, object]
        if provider == "google":
            flow = {
                "state": state_text,
                "code_verifier": verifier,
                "redirect_uri": "https://calsync.example/connections/google/callback",
            }
        else:
            flow = {
                "state": state_text,
                "redirect_uri": "https://calsync.example/connections/microsoft/callback",
                "scope": ["offline_access", "openid", "profile", "User.Read", "Calendars.ReadWrite"],
                "auth_uri": "https://login.microsoftonline.com/common/oauth2/v2.0/authorize?client_id=…",
                "code_verifier": verifier,
                "nonce": hashlib.sha256(verifier.encode()).hexdigest(),
                "claims_challenge": None,
            }
        expires = created + timedelta(minutes=15)
        consumed = created + timedelta(seconds=rng.randint(5, 120)) if expires < now and rng.random() < 0.8 else None
        states.append(
            OAuthState(
                state=state_text,
                user=plan.user,
                session_key_hash=hashlib.sha256(_urlsafe(rng, 32).encode()).hexdigest(),
                provider=provider,
                flow=flow,
                return_url="/connections/",
                expires_at=expires,
                consumed_at=consumed,
                created_at=created,
            )
        )
    return states


def _ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return str(ipaddress.IPv6Address((0x2001_0DB8 << 96) | rng.getrandbits(64)))
    return str(ipaddress.IPv4Address(rng.randrange(0x0B000000, 0xDF000000)))


def _urlsafe(rng: random.Random, length: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "".join(alphabet[rng.getrandbits(6)] for _ in range(length))
