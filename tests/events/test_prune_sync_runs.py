from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils.timezone import now

from events.models import SyncRun
from events.tasks import prune_sync_runs
from tests.factories import make_account, make_connection


def make_runs(owner) -> tuple[SyncRun, SyncRun]:
    connection = make_connection(make_account(owner))
    old = SyncRun.objects.create(connection=connection, started_at=now() - timedelta(days=31), outcome="ok")
    recent = SyncRun.objects.create(connection=connection, started_at=now() - timedelta(days=29), outcome="ok")
    return old, recent


def test_it_prunes_runs_past_the_retention_period(owner, settings):
    settings.SYNC_RUN_RETENTION_DAYS = 30
    _, recent = make_runs(owner)
    assert prune_sync_runs() == 1
    assert list(SyncRun.objects.all()) == [recent]


def test_the_command_honours_days_and_dry_run(owner):
    make_runs(owner)
    out = StringIO()
    call_command("prune_sync_runs", "--days", "7", "--dry-run", stdout=out)
    assert "2 sync runs older than 7 days would be deleted" in out.getvalue()
    assert SyncRun.objects.count() == 2
    call_command("prune_sync_runs", "--days", "30", stdout=out)
    assert "1 sync runs older than 30 days deleted" in out.getvalue()
    assert SyncRun.objects.count() == 1
