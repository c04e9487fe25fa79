"""Item 2: the week view page's server time, through django.test.Client, signed in, for people with 3 and
with 15 calendars (series included, as the data set holds them)."""

from __future__ import annotations

import random
import time

from django.conf import settings
from django.db.models import Count, Q
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.timezone import now

from accounts.models import User
from bench.config import Sizes
from bench.fixtures import dataset_users
from bench.report import Figure, Report, latency_figures
from bench.storage import NO_DATA_SET
from events.week import week_start_for

CALENDAR_COUNTS = (3, 15)
PLAIN_STATIC = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}


def users_with(calendars: int, count: int, *, seed: int = 2) -> list[User]:
    ids = list(
        dataset_users()
        .annotate(calendars=Count("calendar_connections", filter=Q(calendar_connections__is_connected=True)))
        .filter(calendars=calendars)
        .values_list("pk", flat=True)
    )
    chosen = random.Random(seed).sample(ids, min(count, len(ids)))  # noqa: S311  # nosec B311  # a repeatable sample
    found = User.objects.in_bulk(chosen)
    return [found[pk] for pk in chosen]


def page_times(users: list[User]) -> list[float]:
    """Server time of each user's current week page; the first request (cold caches) is not counted."""
    client = Client()
    durations: list[float] = []
    for index, user in enumerate(users):
        client.force_login(user)
        url = reverse("week", kwargs={"day": week_start_for(now().astimezone(user.zone).date(), user.week_start)})
        started = time.perf_counter()
        response = client.get(url)
        elapsed = time.perf_counter() - started
        if response.status_code != 200:
            raise RuntimeError(f"the week page answered {response.status_code} for user {user.pk}")
        if index:
            durations.append(elapsed)
    return durations


def measure(report: Report, sizes: Sizes) -> None:
    if not dataset_users().exists():
        report.skip(2, NO_DATA_SET)
        return
    # The manifest storage needs collectstatic; the page's work is the same with plain static URLs.
    storages = {**settings.STORAGES, "staticfiles": PLAIN_STATIC}
    with override_settings(STORAGES=storages, ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "testserver"]):
        for calendars in CALENDAR_COUNTS:
            name = f"week page, {calendars} calendars"
            users = users_with(calendars, sizes.page_samples + 1)
            if len(users) < 2:
                report.add(Figure(2, name, None, "ms", note=f"the data set has no users with {calendars} calendars"))
                continue
            durations = page_times(users)
            latency_figures(
                report, 2, name, durations, p95_target=50, note=f"{len(durations)} users, their current week"
            )
