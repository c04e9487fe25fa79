"""The demo account: a calendar written to a CalDAV server, then connected and synced like anyone's.

The events are placed around the current week (a weekly series with a moved and a cancelled occurrence,
a multi-day all-day event, an overnight event, meetings set in other zones), so the week view is full
the first time. The calendar is written only when it is missing: edits made in the CalDAV server
survive a restart, and `reset` writes it afresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import caldav
import icalendar
import requests
from allauth.account.models import EmailAddress
from caldav.lib import error as caldav_error
from django.db import transaction
from django.utils.timezone import now

from accounts.models import User
from connections.credentials import provider_call
from connections.models import CalendarConnection, Provider
from connections.providers.base import AuthorizationFailed
from connections.providers.caldav import CalDAVAdapter
from connections.providers.netguard import ca_bundle
from connections.services import account_connect, calendars_choose
from events.sync import sync_connection

DEMO_EMAIL = "demo@example.com"
DEMO_USER_PASSWORD = "calsync-demo"  # noqa: S105  # nosec B105  # public, so DEBUG only
DEMO_ZONE = "Europe/London"
DEMO_CALENDAR_ID = "calsync-demo"
DEMO_CALENDAR_NAME = "calsync demo"

Progress = Callable[[str], None]


class DemoUnavailable(Exception):
    """The CalDAV server did not answer in time, or refused the demo login."""


@dataclass
class DemoReport:
    user_created: bool = False
    events_written: int = 0
    synced: list[str] = field(default_factory=list)  # one line per calendar: its sync's outcome and counts


def demo_seed(
    *,
    caldav_url: str,
    username: str,
    password: str,
    reset: bool = False,
    wait_seconds: float = 0,
    progress: Progress | None = None,
) -> DemoReport:
    say = progress or (lambda _text: None)
    report = DemoReport()
    client = caldav.DAVClient(url=caldav_url, username=username, password=password, ssl_verify_cert=ca_bundle())
    principal = _wait_for_principal(client, wait_seconds, say)
    report.events_written = _write_calendar(principal, reset=reset)
    say(f"demo calendar: {report.events_written} events written" if report.events_written else "demo calendar kept")
    user, report.user_created = _demo_user()
    try:
        grant = CalDAVAdapter().verify(server_url=caldav_url, username=username, password=password)
    except AuthorizationFailed as refused:
        raise DemoUnavailable(str(refused)) from refused
    account = account_connect(user=user, provider=Provider.CALDAV, grant=grant)
    remote = provider_call(account, CalDAVAdapter().list_calendars)
    calendars_choose(account=account, remote_calendars=remote, chosen_ids={c.remote_id for c in remote})
    for connection in CalendarConnection.objects.filter(account=account, is_connected=True).select_related("account"):
        result = sync_connection(connection=connection, full=reset)
        line = f"{connection.name}: {result.outcome}, {result.created} new, {result.updated} changed"
        report.synced.append(line + (f" ({result.error})" if result.error else ""))
        say(f"synced {report.synced[-1]}")
    return report


def _wait_for_principal(client: caldav.DAVClient, wait_seconds: float, say: Progress) -> caldav.Principal:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return client.principal()
        except caldav_error.AuthorizationError:
            raise DemoUnavailable("the CalDAV server refused the demo login") from None
        except (requests.ConnectionError, caldav_error.DAVError) as exc:
            if time.monotonic() >= deadline:
                raise DemoUnavailable(f"no CalDAV server answered at {client.url} ({type(exc).__name__})") from None
            say("waiting for the CalDAV server…")
            time.sleep(1)


@transaction.atomic
def _demo_user() -> tuple[User, bool]:
    user = User.objects.filter(email=DEMO_EMAIL).first()
    if user is not None:
        return user, False
    user = User.objects.create_user(DEMO_EMAIL, DEMO_USER_PASSWORD, name="Demo", timezone=DEMO_ZONE)
    EmailAddress.objects.create(user=user, email=DEMO_EMAIL, verified=True, primary=True)
    return user, True


def _write_calendar(principal: caldav.Principal, *, reset: bool) -> int:
    existing = next((c for c in principal.calendars() if str(c.url).rstrip("/").endswith(DEMO_CALENDAR_ID)), None)
    if existing is not None and not reset:
        return 0
    if existing is not None:
        existing.delete()
    calendar = principal.make_calendar(name=DEMO_CALENDAR_NAME, cal_id=DEMO_CALENDAR_ID)
    resources = demo_resources(today=now().astimezone(ZoneInfo(DEMO_ZONE)).date())
    for resource in resources:
        calendar.save_event(resource)
    return len(resources)


# --- the events -------------------------------------------------------------------------------------------


def demo_resources(*, today: date) -> list[str]:
    """The demo calendar's resources (iCalendar text), placed around the week of `today`."""
    monday = today - timedelta(days=today.weekday())
    london, tokyo, los_angeles = ZoneInfo(DEMO_ZONE), ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles")

    def at(day: int, hour: int, minute: int = 0, zone: ZoneInfo = london) -> datetime:
        return datetime.combine(monday + timedelta(days=day), datetime.min.time(), zone).replace(
            hour=hour, minute=minute
        )

    # Mondays and Thursdays at 09:30 since four weeks ago; this Monday's moved to 11:00, this Thursday's off.
    standup_start = at(-28, 9, 30)
    standup = _event("standup", "Team stand-up", standup_start, standup_start + timedelta(minutes=30))
    standup.add("rrule", {"freq": "weekly", "byday": ["MO", "TH"]})
    standup.add("exdate", at(3, 9, 30))
    standup.add("description", "Fifteen minutes, standing. Notes: https://example.com/standup-notes")
    moved = _event("standup", "Team stand-up (moved to 11:00)", at(0, 11), at(0, 11, 30))
    moved.add("recurrence-id", at(0, 9, 30))

    offsite = _event("offsite", "Design offsite", monday + timedelta(days=2), monday + timedelta(days=5))
    offsite.add("location", "Lisbon")
    release = _event("release", "Release night", at(4, 22), at(5, 2))
    release.add("description", "Overnight deploy window; on-call: Sam.")
    tokyo_call = _event("tokyo-call", "Call with the Tokyo office", at(1, 17, zone=tokyo), at(1, 18, zone=tokyo))
    sf_review = _event(
        "sf-review", "Roadmap review (San Francisco)", at(2, 8, 30, los_angeles), at(2, 9, 30, los_angeles)
    )
    sf_review.add("location", "https://meet.example.com/roadmap")
    lunch = _event("lunch", "Lunch with Priya", at(3, 12, 30), at(3, 13, 30))
    lunch.add("location", "The Dove, Hammersmith")
    dentist = _event("dentist", "Dentist", at(1, 15), at(1, 15, 45))
    return [
        _resource(standup, moved),
        *(_resource(event) for event in (offsite, release, tokyo_call, sf_review, lunch, dentist)),
    ]


def _event(slug: str, title: str, start: date | datetime, end: date | datetime) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", f"calsync-demo-{slug}")  # caldav stores it as <uid>.ics: a name to PUT over
    event.add("summary", title)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("dtstamp", now())
    return event


def _resource(*events: icalendar.Event) -> str:
    calendar = icalendar.Calendar()
    calendar.add("prodid", "-//calsync//demo//EN")
    calendar.add("version", "2.0")
    for event in events:
        calendar.add_component(event)
    calendar.add_missing_timezones()
    return calendar.to_ical().decode()
