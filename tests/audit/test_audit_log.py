"""The audit log: written through audit.services.record, immutable in the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory
from django.utils.timezone import now

from accounts.models import User
from audit.models import AuditAction, AuditLog
from audit.services import record
from tests.factories import make_account


def test_it_records_actor_subject_target_and_client(owner, staff):
    account = make_account(owner)
    request = RequestFactory().post("/", REMOTE_ADDR="203.0.113.9", HTTP_USER_AGENT="Firefox/140")
    row = record(
        action=AuditAction.CONNECTION_DISCONNECTED,
        actor=staff,
        subject=owner,
        target=account,
        request=request,
        metadata={"calendars": 2},
    )
    row.refresh_from_db()
    assert (row.actor_id, row.actor_email) == (staff.pk, "staff@example.com")
    assert (row.subject_user_id, row.subject_email) == (owner.pk, "owner@example.com")
    assert (row.target_type, row.target_id) == ("connections.provideraccount", str(account.pk))
    assert (row.ip_address, row.user_agent) == ("203.0.113.9", "Firefox/140")
    assert row.metadata == {"calendars": 2}


def test_it_defaults_the_subject_to_the_actor_and_allows_the_system_as_actor(owner):
    assert record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner).subject_user_id == owner.pk
    system_row = record(action=AuditAction.CONNECTION_NEEDS_RECONNECT, subject=owner)
    assert (system_row.actor_id, system_row.actor_email, system_row.subject_user_id) == (None, "", owner.pk)


def test_it_strips_secrets_from_metadata_at_any_depth(owner):
    row = record(
        action=AuditAction.CONNECTION_CONNECTED,
        actor=owner,
        metadata={
            "access_token": "t",
            "provider": "google",
            "response": {"refresh_token": "r", "scope": "s"},
            "items": [{"Password": "p", "ok": 1}],
        },
    )
    assert row.metadata == {"provider": "google", "response": {"scope": "s"}, "items": [{"ok": 1}]}


def refused(sql: str, params: list | None = None) -> str:
    """Run SQL in a savepoint and return the database's refusal message."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])
    return str(caught.value)


def test_the_database_refuses_update_and_delete(owner):
    row = record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner)
    assert "UPDATE refused" in refused("UPDATE audit_logs SET action = 'account.deleted' WHERE id = %s", [row.pk])
    assert "DELETE refused" in refused("DELETE FROM audit_logs WHERE id = %s", [row.pk])
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditLog.objects.filter(pk=row.pk).update(actor_email="someone@else.example")
    row.refresh_from_db()
    assert (row.action, row.actor_email) == (AuditAction.ACCOUNT_SIGNED_IN, "owner@example.com")


def test_the_database_refuses_truncate_outside_the_test_database_allowance(owner):
    record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner)
    with pytest.raises(DatabaseError, match="TRUNCATE refused"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL calsync.audit_truncate = 'off'")  # as in production, where nothing sets it
        cursor.execute("TRUNCATE audit_logs")
    assert AuditLog.objects.count() == 1


ARCHIVE_THIS_TRANSACTION = "SELECT set_config('calsync.audit_archive', txid_current()::text, %s)"


@pytest.mark.django_db(transaction=True)  # the switch is scoped to a real transaction, not a savepoint
def test_the_archive_switch_lets_delete_through_but_never_update(owner):
    # Backdated straight through the model (only a test may): the archive takes rows past 30 days only.
    row = AuditLog.objects.create(
        action=AuditAction.ACCOUNT_SIGNED_IN,
        actor_id=owner.pk,
        subject_user_id=owner.pk,
        created_at=now() - timedelta(days=31),
    )
    recent = record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ARCHIVE_THIS_TRANSACTION, [True])
        assert "UPDATE refused" in refused("UPDATE audit_logs SET action = 'x' WHERE id = %s", [row.pk])
        assert "DELETE refused" in refused("DELETE FROM audit_logs WHERE id = %s", [recent.pk])
        cursor.execute("DELETE FROM audit_logs WHERE id = %s", [row.pk])
    assert not AuditLog.objects.filter(pk=row.pk).exists()
    assert AuditLog.objects.filter(pk=recent.pk).exists()
    # The switch ended with its transaction: the next delete is refused again.
    other = record(action=AuditAction.ACCOUNT_SIGNED_OUT, actor=owner)
    assert "DELETE refused" in refused("DELETE FROM audit_logs WHERE id = %s", [other.pk])


@pytest.mark.django_db(transaction=True)
def test_a_switch_left_on_the_connection_opens_no_later_transaction(owner):
    row = record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=owner)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(ARCHIVE_THIS_TRANSACTION, [False])  # session-level, outlives the transaction
    try:
        assert "DELETE refused" in refused("DELETE FROM audit_logs WHERE id = %s", [row.pk])
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL calsync.audit_archive = 'on'")  # not a transaction id
            cursor.execute("DELETE FROM audit_logs WHERE id = %s", [row.pk])
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET calsync.audit_archive")
    assert AuditLog.objects.filter(pk=row.pk).exists()


def test_purging_a_user_leaves_their_audit_rows_intact(owner):
    record(action=AuditAction.ACCOUNT_DELETED, actor=owner)
    User.all_objects.filter(pk=owner.pk).delete()
    row = AuditLog.objects.get()
    assert (row.subject_user_id, row.subject_email) == (owner.pk, "owner@example.com")
