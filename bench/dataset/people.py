"""Generated people and their calendars: users with a verified address, provider accounts (credentials
through the real encrypted fields) and calendar connections, written with bulk inserts.

Every generated person has an address in DATASET_DOMAIN, which marks the rows `reset` may delete.
"""

from __future__ import annotations

import base64
import json
import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from allauth.account.models import EmailAddress

from accounts.models import User
from bench.dataset import graph_payloads
from bench.dataset import vocabulary as words
from bench.dataset.specs import pick_zone
from connections.models import AccountStatus, CalendarConnection, ProviderAccount, SyncState

DATASET_DOMAIN = "dataset.invalid"
PROVIDER_WEIGHTS = {"google": 50, "microsoft": 35, "caldav": 15}
# Calendars per person: most have a few; one in a hundred keeps fifteen (the week view's heavy case).
CALENDAR_COUNTS = ((1, 14), (2, 24), (3, 26), (4, 18), (5, 11), (6, 6), (15, 1))
CALDAV_SERVERS = ("https://caldav.fastmail.com", "https://dav.mailbox.example", "https://cloud.example.org/remote.php")


def dataset_email(index: int) -> str:
    return f"user{index:06d}@{DATASET_DOMAIN}"


@dataclass
class PersonPlan:
    index: int
    user: User
    accounts: list[ProviderAccount]
    connections: list[CalendarConnection]


def make_people(
    rngs: dict[int, random.Random], indexes: list[int], now: datetime, password_hash: str
) -> list[PersonPlan]:
    plans = []
    for index in indexes:
        rng = rngs[index]
        zone = pick_zone(rng)
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        user = User(
            email=dataset_email(index),
            name=f"{first} {last}",
            password=password_hash,
            timezone=zone,
            week_start=6 if zone.startswith("America/") else 0,
            created_at=now - timedelta(days=rng.randint(30, 4 * 365)),
            last_login=now - timedelta(hours=rng.randint(1, 2000)),
        )
        plans.append(PersonPlan(index, user, [], []))
    User.all_objects.bulk_create([plan.user for plan in plans])
    EmailAddress.objects.bulk_create(
        [EmailAddress(user=plan.user, email=plan.user.email, verified=True, primary=True) for plan in plans]
    )
    for plan in plans:
        _calendars(rngs[plan.index], plan, now)
    ProviderAccount.objects.bulk_create([account for plan in plans for account in plan.accounts])
    for plan in plans:
        for connection in plan.connections:
            connection.account_id = connection.account.pk
    CalendarConnection.objects.bulk_create([connection for plan in plans for connection in plan.connections])
    return plans


def _calendars(rng: random.Random, plan: PersonPlan, now: datetime) -> None:
    counts, weights = zip(*CALENDAR_COUNTS, strict=True)
    remaining = rng.choices(counts, weights)[0]
    user = plan.user
    providers, provider_weights = list(PROVIDER_WEIGHTS), list(PROVIDER_WEIGHTS.values())
    while remaining:
        provider = rng.choices(providers, provider_weights)[0]
        account = _account(rng, user, provider, now, len(plan.accounts))
        plan.accounts.append(account)
        for position in range(min(remaining, rng.choice((1, 1, 2, 3)))):
            plan.connections.append(_connection(rng, account, position, now))
            remaining -= 1


def _account(rng: random.Random, user: User, provider: str, now: datetime, position: int) -> ProviderAccount:
    email = user.email if position == 0 else user.email.replace("@", f"+{provider}{position}@")
    account = ProviderAccount(
        user=user,
        provider=provider,
        email=email,
        created_at=user.created_at + timedelta(days=rng.randint(0, 30)),
        last_used_at=now - timedelta(minutes=rng.randint(1, 600)),
    )
    if rng.random() < 0.03:
        account.status = AccountStatus.NEEDS_RECONNECT
        account.last_error = "The provider no longer accepts calsync's access (invalid_grant). Reconnect the account."
        account.reconnect_reason = account.last_error
    if provider == "caldav":
        server = rng.choice(CALDAV_SERVERS)
        account.external_id = f"{server}/dav/principals/user/{email}/"
        account.server_url = f"{server}/dav/"
        account.username = email
        account.password = "".join(rng.choice("abcdefghijkmnopqrstuvwxyz") for _ in range(16))
        return account
    account.external_id = str(rng.randrange(10**20, 10**21)) if provider == "google" else str(_uuid(rng))
    account.token_expires_at = now + timedelta(minutes=rng.randint(-600, 60))
    account.last_refreshed_at = account.token_expires_at - timedelta(hours=1)
    if provider == "google":
        account.access_token = "ya29." + _token(rng, 160)
        account.refresh_token = "1//0" + _token(rng, 99)
        account.scopes = ["openid", "email", "https://www.googleapis.com/auth/calendar"]
    else:
        account.access_token = "eyJ0eXAiOiJKV1QiLCJub25jZSI6" + _token(rng, 1500)  # a Graph JWT is that long
        account.refresh_token = "1.AQ" + _token(rng, 1000)
        account.scopes = ["openid", "profile", "offline_access", "User.Read", "Calendars.ReadWrite"]
    return account


def _connection(rng: random.Random, account: ProviderAccount, position: int, now: datetime) -> CalendarConnection:
    user = account.user
    name = words.CALENDAR_NAMES[position] if position else "Calendar" if account.provider != "google" else user.email
    if account.provider == "google":
        remote_id = account.email if position == 0 else f"{_token(rng, 26).lower()}@group.calendar.google.com"
        cursor = "CP" + _token(rng, 24) + "EAEYAQ=="
    elif account.provider == "microsoft":
        remote_id = graph_payloads.new_id(rng)
        delta = (
            f"https://graph.microsoft.com/v1.0/me/calendars/{remote_id}/calendarView/delta"
            f"?$deltatoken={_token(rng, 180)}"
        )
        cursor = json.dumps(
            {"v": 1, "start": "2025-11-16", "end": "2028-11-15", "deltaLink": delta}, separators=(",", ":")
        )
    else:
        remote_id = f"{account.server_url}calendars/user/{account.email}/{_uuid(rng)}/"
        cursor = f"http://sabre.io/ns/sync/{rng.randint(1000, 99999)}"
    connection = CalendarConnection(
        user=user,
        account=account,
        remote_id=remote_id,
        name=name,
        color=rng.choice(words.COLORS),
        timezone=user.timezone,
        is_primary=position == 0,
        read_only=position > 0 and rng.random() < 0.15,
        shown_in_week=rng.random() > 0.05,
        sync_cursor=cursor,
        sync_status=SyncState.OK,
        last_synced_at=now - timedelta(minutes=rng.randint(1, 30)),
        created_at=account.created_at,
    )
    roll = rng.random()
    if roll < 0.02:
        connection.sync_status = SyncState.ERROR
        connection.last_error = "The provider answered 503 Service Unavailable; retrying later."
        connection.consecutive_failures = rng.randint(1, 5)
        connection.next_attempt_at = now + timedelta(minutes=rng.randint(1, 60))
    return connection


def _token(rng: random.Random, length: int) -> str:
    return base64.urlsafe_b64encode(rng.randbytes(length)).decode()[:length]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)
