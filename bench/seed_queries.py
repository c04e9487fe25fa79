"""Item 1: the seed's five queries as the views and services run them, over many random users.

Each query is called through the code that runs it in production (allauth's sign-in lookup, the week view's
selectors, the OAuth state service, the push engine's next-change query). The first call of each is not timed:
it warms the caches and its SQL, captured with CaptureQueriesContext, goes through EXPLAIN (FORMAT JSON) to
name the indexes the plan uses.
"""

from __future__ import annotations

import json
import random
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from allauth.account.internal.userkit import filter_users_by_email
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from accounts.models import User
from bench.config import Sizes
from bench.fixtures import dataset_users
from bench.report import Figure, Report, latency_figures
from bench.storage import NO_DATA_SET
from connections.models import CalendarConnection, OAuthState, Provider
from connections.oauth_state import oauth_state_consume, oauth_state_create
from events.models import CalendarEvent
from events.outbox import change_next
from events.selectors import WALL_CLOCK_SLACK, occurrences_in_window, rows_near_window, week_calendars
from events.week import DAYS, local_midnight, week_start_for

Call = Callable[[], object]


def timed(calls: Sequence[Call]) -> tuple[list[float], list[dict[str, str]]]:
    """Durations of every call but the first, and the SQL the first one ran."""
    durations: list[float] = []
    with CaptureQueriesContext(connection) as captured:
        calls[0]()
    for call in calls[1:]:
        started = time.perf_counter()
        call()
        durations.append(time.perf_counter() - started)
    return durations, list(captured.captured_queries)


def plan_nodes(plan: Any) -> Iterator[dict[str, Any]]:
    if isinstance(plan, dict):
        yield plan
        for child in plan.get("Plans", []):
            yield from plan_nodes(child)
    elif isinstance(plan, list):
        for item in plan:
            yield from plan_nodes(item.get("Plan", item) if isinstance(item, dict) else item)


def plan_indexes(queries: Sequence[dict[str, str]]) -> str:
    """The indexes (and any sequential scans) in the plans of `queries`, in plan order."""
    found: list[str] = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if not sql.lstrip("( \n\t").upper().startswith(("SELECT", "UPDATE", "DELETE", "INSERT", "WITH")):
                continue  # savepoints and the like
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
            plan = cursor.fetchone()[0]
            for node in plan_nodes(json.loads(plan) if isinstance(plan, str) else plan):
                if "Index Name" in node:
                    found.append(f"{node['Index Name']} ({node['Node Type'].lower()})")
                elif node.get("Node Type") == "Seq Scan":
                    found.append(f"seq scan on {node['Relation Name']}")
    unique = list(dict.fromkeys(found))
    return f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'}; plan: " + (", ".join(unique) or "no index")


def window_rows(ids: list[int], low: datetime, high: datetime) -> list[CalendarEvent]:
    return list(rows_near_window(ids, low, high))


def sample_users(count: int, *, seed: int = 1) -> list[User]:
    ids = list(dataset_users().values_list("pk", flat=True))
    chosen = random.Random(seed).sample(ids, min(count, len(ids)))  # noqa: S311  # nosec B311  # a repeatable sample
    users = User.objects.in_bulk(chosen)
    return [users[pk] for pk in chosen]


def week_calls(users: Sequence[User]) -> tuple[list[Call], list[Call]]:
    """Per user with calendars: the week view's occurrences call, and its row query alone."""
    shown: dict[int, list[int]] = {}
    for user_id, connection_id in CalendarConnection.objects.filter(
        user__in=users, is_connected=True, shown_in_week=True
    ).values_list("user_id", "pk"):
        shown.setdefault(user_id, []).append(connection_id)
    selector: list[Call] = []
    rows: list[Call] = []
    for user in users:
        if user.pk not in shown:
            continue
        zone = user.zone
        first = week_start_for(now().astimezone(zone).date(), user.week_start)
        start, end = local_midnight(first, zone), local_midnight(first + timedelta(days=DAYS), zone)
        ids = shown[user.pk]
        selector.append(partial(occurrences_in_window, connection_ids=ids, start=start, end=end, zone=zone))
        rows.append(partial(window_rows, ids, start - WALL_CLOCK_SLACK, end + WALL_CLOCK_SLACK))
    return selector, rows


def measure(report: Report, sizes: Sizes) -> None:
    users = sample_users(sizes.samples)
    if len(users) < 2:
        report.skip(1, NO_DATA_SET)
        return

    def run(name: str, calls: Sequence[Call], target_ms: float, extra: str = "") -> None:
        if len(calls) < 2:
            report.add(Figure(1, name, None, "ms", note="too few users with what this query needs"))
            return
        durations, queries = timed(calls)
        note = f"{len(durations)} users; {plan_indexes(queries)}" + (f"; {extra}" if extra else "")
        latency_figures(report, 1, name, durations, p95_target=target_ms, note=note)

    run(
        "sign-in lookup (allauth, by email)",
        [partial(filter_users_by_email, user.email, prefer_verified=True, for_login=True) for user in users],
        5,
    )
    run("a user's calendars (week_calendars)", [partial(week_calendars, user=user) for user in users], 5)
    selector, rows = week_calls(users)
    run("a week of events (occurrences_in_window)", selector, 2, "rows and recurrence expansion, as the view calls it")
    run("a week of events, the SQL alone (rows_near_window)", rows, 2, "informational: without the expansion")

    states: list[tuple[User, str, str]] = []
    for user in users:
        session_key = secrets.token_hex(16)
        state = oauth_state_create(user=user, session_key=session_key, provider=Provider.GOOGLE, flow=None)
        states.append((user, state.state, session_key))
    try:
        run(
            "validate and consume an OAuth state",
            [
                partial(oauth_state_consume, state=state, user=user, session_key=key, provider=Provider.GOOGLE)
                for user, state, key in states
            ],
            1,
        )
    finally:
        OAuthState.objects.filter(state__in=[state for _, state, _ in states]).delete()

    connection_ids = dict(
        CalendarConnection.objects.filter(user__in=users, is_connected=True).values_list("user_id", "pk")
    )
    run(
        "pending changes of a connection (push engine)",
        [partial(change_next, connection_id=pk) for pk in connection_ids.values()],
        5,
        "events.outbox.change_next, as the push engine calls it",
    )
