"""The daily purge: accounts and events soft-deleted past the grace period are erased for good."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from io import StringIO

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.apps import apps
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection, models
from django.db.models.fields.reverse_related import ForeignObjectRel
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from accounts.models import Session, User
from accounts.purge import LARGE_TABLES, deleted_purge
from accounts.services import account_delete
from accounts.tasks import purge_deleted
from audit.models import AuditAction, AuditLog
from audit.services import record
from connections.models import CalendarConnection, OAuthState
from events.models import CalendarEvent, EventChange, SyncRun
from tests.conftest import PASSWORD
from tests.factories import make_account, make_connection, make_event

# Tables the purge must reach through the user's foreign keys; the generic check below finds them itself,
# this only proves that it does (so "nothing left" is not vacuous).
EXPECTED_USER_TABLES = {
    "account.EmailAddress.user",
    "mfa.Authenticator.user",
    "admin.LogEntry.user",
    "accounts.Session.user",
    "accounts.User_groups.user",
    "accounts.User_user_permissions.user",
    "connections.ProviderAccount.user",
    "connections.CalendarConnection.user",
    "connections.OAuthState.user",
}


@pytest.fixture(autouse=True)
def _immediate_constraints(request):
    """Check foreign keys at each statement: the test's transaction never commits, so deferred checks
    (Django's, on PostgreSQL) would never run and a dangling reference would go unnoticed."""
    if "db" not in request.fixturenames:
        return
    request.getfixturevalue("db")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def days_ago(days: int) -> datetime:
    return now() - timedelta(days=days)


def user_foreign_keys() -> list[tuple[type[models.Model], models.Field]]:
    return [
        (model, field)
        for model in apps.get_models(include_auto_created=True)
        for field in model._meta.concrete_fields
        if field.is_relation and field.related_model is User
    ]


def rows_pointing_at(user_id: int) -> dict[str, int]:
    """Every row of every table that has a foreign key to the user, by `app.Model.field`."""
    counts = {
        f"{model._meta.label}.{field.name}": model._base_manager.filter(**{field.attname: user_id}).count()
        for model, field in user_foreign_keys()
    }
    return {name: count for name, count in counts.items() if count}


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._base_manager.count() for model in apps.get_models(include_auto_created=True)}


def member(email: str, *, tokens: bool = True) -> User:
    """A person with a row in every table that points at users, and events in two calendars."""
    user = User.objects.create_user(email, PASSWORD)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    Authenticator.objects.create(user=user, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "x"})
    user.groups.add(Group.objects.get_or_create(name="testers")[0])
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    LogEntry.objects.create(user=user, action_flag=ADDITION, object_repr="something staff did")
    Session.objects.create(
        key_hash=f"{user.pk:064d}", session_data="", expire_date=now() + timedelta(days=1), user=user
    )
    OAuthState.objects.create(
        state=f"state-{user.pk}",
        user=user,
        session_key_hash="0" * 64,
        provider="google",
        expires_at=now() + timedelta(minutes=15),
    )
    secrets = {"access_token": "ya29.secret", "refresh_token": "1//secret"} if tokens else {}
    account = make_account(user, **secrets)
    for name in ("Work", "Home"):
        calendar = make_connection(account, name=name)
        SyncRun.objects.create(connection=calendar, outcome="ok")
        master = make_event(calendar, recurrence="RRULE:FREQ=WEEKLY")
        make_event(calendar)
        make_event(
            calendar,
            master_provider_event_id=master.provider_event_id,
            original_start=master.start + timedelta(days=7),
            recurring_event=master,
        )
        # An edit made in calsync, not pushed yet: the outbox points at the event too.
        EventChange.objects.create(connection=calendar, event=master, operation="update", payload={"title": "x"})
    return user


def delete_account(user: User, *, days: int) -> User:
    """Delete the account as the person does, then let `days` pass."""
    account_delete(user=user)
    moment = days_ago(days)
    User.all_objects.filter(pk=user.pk).update(deleted_at=moment)
    CalendarEvent.objects.filter(connection__user=user).update(deleted_at=moment)
    return User.all_objects.get(pk=user.pk)


def events_of(user: User) -> models.QuerySet[CalendarEvent]:
    connection_ids = list(CalendarConnection.objects.filter(user=user).values_list("pk", flat=True))
    assert connection_ids
    return CalendarEvent.objects.filter(connection_id__in=connection_ids)


def test_it_finds_every_table_that_points_at_users():
    found = {f"{model._meta.label}.{field.name}" for model, field in user_foreign_keys()}
    assert found >= EXPECTED_USER_TABLES


def test_it_erases_a_user_deleted_31_days_ago_with_everything_that_points_at_them(db):
    gone = member("gone@example.com")
    connection_ids = list(CalendarConnection.objects.filter(user=gone).values_list("pk", flat=True))
    assert set(rows_pointing_at(gone.pk)) == EXPECTED_USER_TABLES
    gone = delete_account(gone, days=31)
    staying = member("staying@example.com")
    before = rows_pointing_at(staying.pk)
    staying_events = events_of(staying).count()

    report = deleted_purge(days=30)

    assert not User.all_objects.filter(pk=gone.pk).exists()
    assert rows_pointing_at(gone.pk) == {}
    assert not CalendarEvent.objects.filter(connection_id__in=connection_ids).exists()
    assert not SyncRun.objects.filter(connection_id__in=connection_ids).exists()
    assert rows_pointing_at(staying.pk) == before
    assert events_of(staying).count() == staying_events
    assert (report.users, report.events) == (1, 6)
    assert report.other_rows == {
        "accounts.User_groups": 1,
        "accounts.User_user_permissions": 1,
        "admin.LogEntry": 1,
        "connections.ProviderAccount": 1,
        "connections.CalendarConnection": 2,
        "events.SyncRun": 2,
        "events.EventChange": 2,
    }


def test_it_leaves_a_user_deleted_29_days_ago_untouched(db):
    recent = delete_account(member("recent@example.com"), days=29)
    before = rows_pointing_at(recent.pk)
    events = list(events_of(recent).values_list("pk", "deleted_at", "recurring_event_id"))

    report = deleted_purge(days=30)

    assert (report.users, report.events) == (0, 0)
    assert User.all_objects.get(pk=recent.pk).deleted_at == recent.deleted_at
    assert rows_pointing_at(recent.pk) == before
    assert list(events_of(recent).values_list("pk", "deleted_at", "recurring_event_id")) == events
    assert not AuditLog.objects.filter(action=AuditAction.ACCOUNT_PURGED).exists()


def test_it_purges_events_the_sync_removed_after_the_same_period(owner):
    calendar = make_connection(make_account(owner))
    make_event(calendar, deleted_at=days_ago(31))
    recent = make_event(calendar, deleted_at=days_ago(29))
    live = make_event(calendar)
    # A series whose master the provider removed, with one exception still there.
    master = make_event(calendar, recurrence="RRULE:FREQ=DAILY", deleted_at=days_ago(31))
    exception = make_event(
        calendar,
        master_provider_event_id=master.provider_event_id,
        original_start=master.start + timedelta(days=1),
        recurring_event=master,
    )

    report = deleted_purge(days=30)

    assert set(CalendarEvent.objects.values_list("pk", flat=True)) == {recent.pk, live.pk, exception.pk}
    exception.refresh_from_db()
    assert exception.recurring_event_id is None
    assert exception.master_provider_event_id == master.provider_event_id  # relinked if the master returns
    assert (report.users, report.events, report.other_rows) == (0, 2, {})
    assert User.objects.filter(pk=owner.pk).exists()


def test_it_keeps_a_deleted_event_whose_change_the_person_has_not_settled(owner):
    calendar = make_connection(make_account(owner))
    # Deleted at the provider while the person's edit waited: the edit is a conflict to re-apply or discard.
    unsettled = make_event(calendar, deleted_at=days_ago(40))
    EventChange.objects.create(
        connection=calendar, event=unsettled, operation="update", status="conflict", payload={"title": "mine"}
    )
    settled = make_event(calendar, deleted_at=days_ago(40))

    report = deleted_purge(days=30)

    assert report.events == 1
    assert set(CalendarEvent.objects.values_list("pk", flat=True)) == {unsettled.pk}
    assert not CalendarEvent.objects.filter(pk=settled.pk).exists()


def test_it_keeps_the_audit_trail_and_writes_one_purged_row_per_user(db):
    first = delete_account(member("first@example.com"), days=31)
    second = delete_account(member("second@example.com", tokens=False), days=40)
    record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=first)
    trail = {
        user.pk: set(AuditLog.objects.filter(subject_user_id=user.pk).values_list("pk", flat=True))
        for user in (first, second)
    }
    assert len(trail[first.pk]) == 2 and len(trail[second.pk]) == 1  # deleted (and signed in)

    deleted_purge(days=30)

    for user in (first, second):
        rows = AuditLog.objects.filter(subject_user_id=user.pk)
        assert trail[user.pk] <= set(rows.values_list("pk", flat=True))
        purged = rows.get(action=AuditAction.ACCOUNT_PURGED)
        assert (purged.actor_id, purged.actor_email) == (None, "")
        assert purged.subject_email == user.email
        assert purged.metadata == {
            "after_days": 30,
            "rows": {
                "accounts.User": 1,
                "accounts.User_groups": 1,
                "accounts.User_user_permissions": 1,
                "admin.LogEntry": 1,
                "connections.CalendarConnection": 2,
                "connections.ProviderAccount": 1,
                "events.CalendarEvent": 6,
                "events.SyncRun": 2,
                "events.EventChange": 2,
            },
        }
    assert AuditLog.objects.filter(action=AuditAction.ACCOUNT_PURGED).count() == 2


def test_a_dry_run_deletes_nothing_and_reports_what_would_go(owner):
    delete_account(member("gone@example.com"), days=31)
    delete_account(member("recent@example.com"), days=29)
    make_event(make_connection(make_account(owner)), deleted_at=days_ago(31))
    before = row_counts()
    lines: list[str] = []

    dry = deleted_purge(days=30, dry_run=True, progress=lines.append)

    assert row_counts() == before
    assert dry.dry_run
    assert dry.vacuumed == []
    assert "would be purged (dry run)" in dry.summary()
    assert any("user #" in line for line in lines)
    assert (dry.users, dry.events, dry.other_rows_total) == (1, 7, 10)
    real = deleted_purge(days=30)
    assert (real.users, real.events, real.other_rows) == (dry.users, dry.events, dry.other_rows)


def test_it_deletes_events_in_batches(owner):
    gone = delete_account(member("gone@example.com", tokens=False), days=31)
    calendar = make_connection(make_account(owner))
    removed = [make_event(calendar, deleted_at=days_ago(31)) for _ in range(5)]
    live = make_event(calendar)
    lines: list[str] = []

    with CaptureQueriesContext(connection) as queries:
        report = deleted_purge(days=30, batch_size=2, progress=lines.append, vacuum=False)

    assert (report.users, report.events) == (1, 6 + 5)
    assert rows_pointing_at(gone.pk) == {}
    assert list(CalendarEvent.objects.values_list("pk", flat=True)) == [live.pk]
    assert not CalendarEvent.objects.filter(pk__in=[event.pk for event in removed]).exists()
    # The user's 6 events in 3 batches, then the 5 removed ones in 3 (2 + 2 + 1), each its own statement.
    assert len([line for line in lines if "events deleted so far" in line]) == 6
    deletes = [query["sql"] for query in queries if query["sql"].startswith('DELETE FROM "calendar_events"')]
    assert sorted(len(re.findall(r"\d+", delete.partition(" IN ")[2])) for delete in deletes) == [1, 2, 2, 2, 2, 2]


def test_calendar_events_can_be_deleted_without_the_collector():
    """events_purge deletes rows in one statement and does the SET NULL itself; that is only right while
    CalendarEvent has no other reverse relation and nobody listens for its deletion."""
    reverse = [
        (relation.field.model, relation.field.name, relation.on_delete)
        for relation in CalendarEvent._meta.get_fields(include_hidden=True)
        if isinstance(relation, ForeignObjectRel)
    ]
    assert sorted(reverse, key=str) == sorted(
        [(CalendarEvent, "recurring_event", models.SET_NULL), (EventChange, "event", models.SET_NULL)], key=str
    )
    assert not pre_delete.has_listeners(CalendarEvent)
    assert not post_delete.has_listeners(CalendarEvent)


def table_vacuum_counts() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT relname, vacuum_count FROM pg_stat_user_tables")
        return dict(cursor.fetchall())


@pytest.mark.django_db(transaction=True)
def test_it_vacuums_the_large_tables_outside_a_transaction():
    delete_account(member("gone@example.com", tokens=False), days=31)
    tables = [model._meta.db_table for model in LARGE_TABLES]
    assert {"calendar_events", "audit_logs", "sync_runs", "sessions", "oauth_states", "users"} <= set(tables)
    before = table_vacuum_counts()

    with CaptureQueriesContext(connection) as queries:
        report = deleted_purge(days=30)

    assert report.users == 1
    assert report.vacuumed == tables
    assert report.notes == []
    vacuums = [query["sql"] for query in queries if query["sql"].startswith("VACUUM")]
    assert vacuums == [f'VACUUM (ANALYZE) "{table}"' for table in tables]
    after = table_vacuum_counts()
    assert all(after[table] > before.get(table, 0) for table in tables)


def test_it_skips_vacuum_inside_a_transaction_without_failing(owner):
    make_event(make_connection(make_account(owner)), deleted_at=days_ago(31))

    with CaptureQueriesContext(connection) as queries:
        report = deleted_purge(days=30)

    assert report.events == 1
    assert report.vacuumed == []
    assert report.notes == ["VACUUM skipped: called inside a transaction, where PostgreSQL refuses it"]
    assert report.notes[0] in report.summary()
    assert not [query for query in queries if query["sql"].startswith("VACUUM")]


def test_the_command_honours_days_dry_run_and_no_vacuum(db):
    gone = delete_account(member("gone@example.com", tokens=False), days=31)
    out = StringIO()

    call_command("purge_deleted", "--dry-run", stdout=out)
    assert User.all_objects.filter(pk=gone.pk).exists()
    assert out.getvalue().splitlines()[-1] == ("1 users, 6 events and 10 other rows would be purged (dry run).")

    out = StringIO()
    call_command("purge_deleted", "--days", "40", "--no-vacuum", stdout=out)
    assert User.all_objects.filter(pk=gone.pk).exists()
    assert out.getvalue().splitlines()[-1] == "0 users, 0 events and 0 other rows purged."

    out = StringIO()
    call_command("purge_deleted", "--days", "30", "--no-vacuum", "--batch-size", "4", stdout=out)
    assert not User.all_objects.filter(pk=gone.pk).exists()
    lines = out.getvalue().splitlines()
    assert f"[1/1] user #{gone.pk}: 6 events and 10 other rows" in lines
    assert len([line for line in lines if "events deleted so far" in line]) == 2
    assert lines[-1] == "1 users, 6 events and 10 other rows purged."


def test_the_command_explains_its_options(capsys):
    with pytest.raises(SystemExit):
        call_command("purge_deleted", "--help")
    help_text = capsys.readouterr().out
    for option in ("--days", "--dry-run", "--no-vacuum", "--batch-size"):
        assert option in help_text


def test_the_task_purges_after_the_configured_days(db, settings):
    settings.PURGE_AFTER_DAYS = 10
    gone = delete_account(member("gone@example.com", tokens=False), days=11)
    kept = delete_account(member("kept@example.com", tokens=False), days=9)

    result = purge_deleted()

    assert not User.all_objects.filter(pk=gone.pk).exists()
    assert User.all_objects.filter(pk=kept.pk).exists()
    assert (result["users"], result["events"], result["dry_run"]) == (1, 6, False)
