"""`seed_demo` writes the demo calendar to a real CalDAV server and the week shows it after a real sync."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.utils.timezone import now

from accounts.models import User
from connections.models import CalendarConnection, Provider
from demo.seed import DEMO_EMAIL, DEMO_USER_PASSWORD, DEMO_ZONE
from events.selectors import occurrences_in_window
from fakes.processes import free_port

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
LONDON = ZoneInfo(DEMO_ZONE)


@dataclass(frozen=True)
class DemoServer:
    username: str
    password: str
    args: list[str]


@pytest.fixture
def demo_server(radicale, settings) -> DemoServer:
    settings.DEBUG = True
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True  # Radicale listens on loopback
    # A leading "-" makes this token look like an option unless it is joined with "=" (it once failed CI).
    username, password = f"demo-{secrets.token_hex(3)}", "-" + secrets.token_urlsafe(12)
    radicale.add_user(username, password)
    args = [f"--caldav-url={radicale.url}", f"--username={username}", f"--password={password}"]
    return DemoServer(username, password, args)


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def week_of(monday: datetime) -> list[tuple[str, str, str]]:
    user = User.objects.get(email=DEMO_EMAIL)
    ids = CalendarConnection.objects.filter(user=user).values_list("pk", flat=True)
    found = occurrences_in_window(connection_ids=ids, start=monday, end=monday + timedelta(days=7), zone=LONDON)
    return [(o.event.title, f"{o.start:%a %H:%M}", f"{o.end:%a %H:%M}") for o in found]


def this_monday() -> datetime:
    today = now().astimezone(LONDON).date()
    return datetime.combine(today - timedelta(days=today.weekday()), datetime.min.time(), LONDON)


def test_it_builds_a_demo_week_through_the_caldav_sync(demo_server):
    output = seed(*demo_server.args)
    assert f"sign in as {DEMO_EMAIL} / {DEMO_USER_PASSWORD}" in output

    user = User.objects.get(email=DEMO_EMAIL)
    assert authenticate(email=DEMO_EMAIL, password=DEMO_USER_PASSWORD) == user
    assert EmailAddress.objects.filter(user=user, email=DEMO_EMAIL, verified=True, primary=True).exists()
    connection = CalendarConnection.objects.get(user=user)
    assert connection.account.provider == Provider.CALDAV and connection.last_synced_at is not None

    assert sorted(week_of(this_monday())) == sorted(
        [
            ("Team stand-up (moved to 11:00)", "Mon 11:00", "Mon 11:30"),  # the exception; Thursday's is cancelled
            ("Call with the Tokyo office", *shown(1, 17, "Asia/Tokyo", hours=1)),  # set in Tokyo time
            ("Dentist", "Tue 15:00", "Tue 15:45"),
            ("Design offsite", "Wed 00:00", "Sat 00:00"),  # all day, Wednesday to Friday
            ("Roadmap review (San Francisco)", *shown(2, 8.5, "America/Los_Angeles", hours=1)),
            ("Lunch with Priya", "Thu 12:30", "Thu 13:30"),
            ("Release night", "Fri 22:00", "Sat 02:00"),  # overnight
        ]
    )
    next_week = week_of(this_monday() + timedelta(days=7))
    assert [(title, start) for title, start, _ in next_week] == [
        ("Team stand-up", "Mon 09:30"),
        ("Team stand-up", "Thu 09:30"),
    ]


def test_it_keeps_edits_made_in_the_caldav_server_unless_reset(demo_server, radicale):
    seed(*demo_server.args)
    with radicale.client(demo_server.username, demo_server.password) as client:
        calendar = client.principal().calendars()[0]
        lunch = calendar.event_by_uid("calsync-demo-lunch")
        lunch.icalendar_component["summary"] = "Lunch moved to the park"
        lunch.save()

    assert "demo calendar kept" in seed(*demo_server.args)
    titles = {title for title, _, _ in week_of(this_monday())}
    assert "Lunch moved to the park" in titles and "Lunch with Priya" not in titles

    assert "demo calendar: 7 events written" in seed(*demo_server.args, "--reset")
    titles = {title for title, _, _ in week_of(this_monday())}
    assert "Lunch with Priya" in titles and "Lunch moved to the park" not in titles
    assert User.objects.filter(email=DEMO_EMAIL).count() == 1


def test_it_refuses_to_run_without_debug(demo_server, settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        seed(*demo_server.args)
    assert not User.objects.filter(email=DEMO_EMAIL).exists()


def test_it_says_clearly_when_no_server_answers(settings):
    settings.DEBUG = True
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True
    with pytest.raises(CommandError, match="no CalDAV server answered"):
        seed("--caldav-url", f"https://127.0.0.1:{free_port()}/", "--wait", "1")
    assert not User.objects.filter(email=DEMO_EMAIL).exists()


def shown(day: int, hour: float, zone: str, *, hours: int) -> tuple[str, str]:
    """Start and end, as London shows them, of an event at `hour` o'clock in `zone` on the week's `day`."""
    local = datetime.combine(this_monday().date() + timedelta(days=day), datetime.min.time(), ZoneInfo(zone))
    start = (local + timedelta(hours=hour)).astimezone(LONDON)
    return f"{start:%a %H:%M}", f"{start + timedelta(hours=hours):%a %H:%M}"
