"""The soak's people (users at @soak.invalid): a verified address, a password, calendars at the Google fake.

Earlier runs' people are removed before a run; a run's own are kept afterwards, so a failed data check can
be looked into in the soak database.
"""

from __future__ import annotations

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password
from django.db import connection

from accounts.models import User
from bench.fakes import GoogleFake, google_calendars
from bench.payloads import google_events
from connections.models import CalendarConnection
from soak.config import SoakConfig

SOAK_DOMAIN = "@soak.invalid"
PASSWORD = "soak-visitor-password"  # noqa: S105  # nosec B105  # throw-away people on a loopback soak database


class WrongDatabase(Exception):
    pass


@dataclass(frozen=True)
class Person:
    email: str
    connection_ids: list[int]
    calendar_ids: list[str]  # their ids at the fake (the connections' remote_id)


def check_database() -> None:
    name = str(connection.settings_dict["NAME"])
    # Its own database, or a test run's throwaway one (pytest-django names it test_<name>).
    if "soak" not in name and not name.startswith("test_"):
        raise WrongDatabase(
            f"the soak writes and deletes rows: it runs only on a database named *soak* (not {name!r}); "
            "set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/calsync_soak"
        )


def remove_soak_rows() -> None:
    """Delete what earlier runs left. Events and runs go by plain SQL: the ORM's cascade would load every row.

    The tables are vacuumed afterwards: dead rows from the last run would otherwise slow this one's queries
    until autovacuum happened to come by, and runs would not compare.
    """
    ids = list(CalendarConnection.objects.filter(user__email__endswith=SOAK_DOMAIN).values_list("pk", flat=True))
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM event_changes WHERE connection_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM calendar_events WHERE connection_id = ANY(%s)", [ids])
            cursor.execute("DELETE FROM sync_runs WHERE connection_id = ANY(%s)", [ids])
    User.objects.filter(email__endswith=SOAK_DOMAIN).delete()
    if ids:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) calendar_events, sync_runs, event_changes, sessions")


def build_people(fake: GoogleFake, config: SoakConfig) -> list[Person]:
    """`config.users` people, each with `config.calendars` connected calendars of `config.events` events."""
    hashed = make_password(PASSWORD)  # one Argon2 hash for everyone: making one is slow on purpose
    people = []
    for index in range(config.users):
        email = f"visitor{index}{SOAK_DOMAIN}"
        user = User.objects.create_user(email, None, name=f"Visitor {index}", timezone="Europe/Berlin")
        User.objects.filter(pk=user.pk).update(password=hashed)
        # allauth signs in only people with a verified address (ACCOUNT_EMAIL_VERIFICATION is mandatory).
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        connections = google_calendars(fake, user, email, calendars=config.calendars)
        for number, calendar in enumerate(connections):
            for item in google_events(config.events, seed=index * 100 + number, owner=email, prefix=f"e{number}v"):
                fake.state.put_event(calendar.remote_id, item)
        people.append(Person(email, [c.pk for c in connections], [c.remote_id for c in connections]))
    return people
