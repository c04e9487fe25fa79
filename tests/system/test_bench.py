"""`make bench` on tiny sizes, so the harness cannot rot: every measurement runs and the report is written.

No timing is asserted here (timings belong to the bench's report). A handful of @dataset.invalid people
stand in for `python -m bench.dataset`, so the data set's measurements (seed queries, week page, storage) run too.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.utils.timezone import now

from accounts.models import User
from bench import hostile_week, runner
from bench.config import QUICK, Sizes, sizes_from
from bench.report import Report, percentile
from events.models import CalendarEvent
from tests.factories import make_account, make_connection, make_event

TINY = Sizes(
    samples=3,
    page_samples=2,
    ingest_events=60,
    baseline_events=20,
    page_size=25,
    cycle_connections=4,
    cycle_events=1,
    workers=2,
    memory_events=50,
)


def tiny_data_set() -> None:
    """People with 3 and with 15 calendars, singles and a weekly series that began years ago."""
    for person, calendars in enumerate([3, 3, 3, 15, 15, 15]):
        user = User.objects.create_user(f"person{person}@dataset.invalid", None, timezone="Europe/Berlin")
        account = make_account(user)
        for number in range(calendars):
            connection = make_connection(account, name=f"Calendar {number}")
            make_event(connection, now() + timedelta(days=1))
            master = make_event(
                connection,
                now() - timedelta(days=3 * 365),
                recurrence="RRULE:FREQ=WEEKLY",
                recurrence_end=None,
            )
            make_event(
                connection,
                master.start + timedelta(weeks=2, hours=1),
                recurring_event=master,
                master_provider_event_id=master.provider_event_id,
                original_start=master.start + timedelta(weeks=2),
            )


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_runs_every_measurement_and_writes_the_report(tmp_path: Path):
    tiny_data_set()

    report = runner.run(sizes=TINY, logs=tmp_path / "logs")

    from bench.report import write

    md, js = write(report, tmp_path)
    failures = [figure.note for figure in report.figures if figure.note.startswith("failed")]
    assert failures == []
    body = json.loads(js.read_text())
    assert {figure["item"] for figure in body["figures"]} == {1, 2, 3, 4, 5, 6, 7}
    assert all(figure["value"] is not None for figure in body["figures"]), md.read_text()
    assert {"cpus", "cpu_model", "ram", "postgresql", "python"} <= set(body["machine"])
    assert "| 3 | ingest, real sync path |" in md.read_text()
    # The bench's own rows are gone; the data set is untouched.
    assert not User.objects.filter(email__endswith="@bench.invalid").exists()
    assert CalendarEvent.objects.count() == 3 * (3 * 3 + 3 * 15)


@pytest.mark.django_db
def test_the_hostile_series_item_measures_both_week_pages_and_the_bounded_series():
    report = Report()
    hostile_week.measure(report, TINY)
    figures = {figure.name: figure for figure in report.item(7)}
    assert {"week page, ordinary week p95", "week page, same week and both hostile series p95"} <= set(figures)
    assert all(figure.value is not None for figure in figures.values())
    shown = figures["occurrences of the dense series on the page"].value
    assert shown is not None and 0 < shown <= 7 * 48 + 1  # bounded: the rule has 5,760 a day


def test_it_refuses_a_database_that_is_not_a_bench_database(monkeypatch):
    monkeypatch.setattr(runner, "connection", SimpleNamespace(settings_dict={"NAME": "calsync"}))
    with pytest.raises(runner.WrongDatabase):
        runner.check_database()


def test_it_takes_sizes_from_the_environment():
    assert sizes_from({}, quick=True) == QUICK
    assert sizes_from({"BENCH_INGEST_EVENTS": "1234"}).ingest_events == 1234


def test_it_interpolates_percentiles():
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 0.5) == 3.0
    assert percentile([0.0, 10.0], 0.95) == pytest.approx(9.5)
