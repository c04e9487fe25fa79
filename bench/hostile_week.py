"""Item 7: the week page of a person whose calendar holds hostile recurring series, beside an ordinary week.

Two series found when calsync was attacked: a daily rule with every hour and minute and four seconds
(5,760 occurrences a day) and an hourly series that began in 1901. Before expansion was bounded they cost
29-77 s and 8 s a page; now each shows at most RECURRENCE_MAX_PER_DAY a day. Both people get the same
ordinary events, so the difference between the two p95s is what the hostile series cost. The rows are the
bench's own (@bench.invalid).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from django.conf import settings
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.timezone import now

from accounts.models import User
from bench.config import Sizes
from bench.fixtures import bench_user
from bench.report import Figure, Report, latency_figures
from bench.week_page import PLAIN_STATIC
from connections.models import CalendarConnection, Provider, ProviderAccount
from events.models import CalendarEvent
from events.week import local_midnight, week_start_for

ITEM = 7
DENSE = (
    "RRULE:FREQ=DAILY;BYHOUR="
    + ",".join(map(str, range(24)))
    + ";BYMINUTE="
    + ",".join(map(str, range(60)))
    + ";BYSECOND=0,15,30,45"
)
HOURLY_SINCE_1901 = "RRULE:FREQ=HOURLY"
P95_TARGET_MS = 50  # the week page's own target (item 2)


def _calendar(user: User) -> CalendarConnection:
    account = ProviderAccount.objects.create(
        user=user, provider=Provider.GOOGLE, external_id=f"hostile-{user.pk}", email=user.email
    )
    return CalendarConnection.objects.create(account=account, user=user, remote_id="primary", name="Work")


def _event(calendar: CalendarConnection, title: str, start: datetime, length: timedelta, recurrence: str = "") -> None:
    CalendarEvent.objects.create(
        connection=calendar,
        provider_event_id=f"{title}-{start.isoformat()}",
        title=title,
        start=start,
        end=start + length,
        timezone="Europe/Berlin",
        recurrence=recurrence,
    )


def _ordinary_week(calendar: CalendarConnection, monday: datetime) -> None:
    """What a busy week holds: three meetings a day and a daily stand-up that began two years ago."""
    _event(
        calendar,
        "Stand-up",
        monday - timedelta(days=730) + timedelta(hours=9),
        timedelta(minutes=15),
        "RRULE:FREQ=DAILY",
    )
    for day in range(5):
        for hour in (10, 13, 15):
            _event(calendar, f"Meeting {day}-{hour}", monday + timedelta(days=day, hours=hour), timedelta(hours=1))


def people(monday: datetime) -> tuple[User, User]:
    ordinary, hostile = bench_user("ordinary-week"), bench_user("hostile-week")
    for user in (ordinary, hostile):
        _ordinary_week(_calendar(user), monday)
    calendar = CalendarConnection.objects.get(user=hostile)
    _event(calendar, "Dense", monday - timedelta(days=365) + timedelta(hours=9), timedelta(minutes=1), DENSE)
    since_1901 = datetime(1901, 1, 1, 0, 30, tzinfo=monday.tzinfo)
    _event(calendar, "Hourly since 1901", since_1901, timedelta(minutes=20), HOURLY_SINCE_1901)
    return ordinary, hostile


def page_times(user: User, url: str, samples: int) -> tuple[list[float], str]:
    """Server time of `samples` requests of the week page (after one untimed), and the last page."""
    client = Client()
    client.force_login(user)
    durations: list[float] = []
    body = ""
    for index in range(samples + 1):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"the week page answered {response.status_code}")
        body = response.content.decode()
        if index:
            durations.append(elapsed)
    return durations, body


def measure(report: Report, sizes: Sizes) -> None:
    zone = User(timezone="Europe/Berlin").zone
    first_day = week_start_for(now().astimezone(zone).date(), 0)
    ordinary, hostile = people(local_midnight(first_day, zone))
    url = reverse("week", kwargs={"day": first_day.isoformat()})
    samples = max(sizes.page_samples, 2)
    storages = {**settings.STORAGES, "staticfiles": PLAIN_STATIC}
    with override_settings(STORAGES=storages, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        plain, _ = page_times(ordinary, url, samples)
        loaded, body = page_times(hostile, url, samples)
    latency_figures(
        report, ITEM, "week page, ordinary week", plain, p95_target=P95_TARGET_MS, note=f"{len(plain)} requests"
    )
    latency_figures(
        report,
        ITEM,
        "week page, same week and both hostile series",
        loaded,
        p95_target=P95_TARGET_MS,
        note=f"{len(loaded)} requests; daily rule with 5,760 a day, hourly since 1901",
    )
    dense = CalendarEvent.objects.get(connection__user=hostile, title="Dense")
    report.add(
        Figure(
            ITEM,
            "occurrences of the dense series on the page",
            body.count(f'data-event="{dense.pk}"'),
            "count",
            note=f"at most {settings.RECURRENCE_MAX_PER_DAY} a day (RECURRENCE_MAX_PER_DAY) of 5,760",
        )
    )
