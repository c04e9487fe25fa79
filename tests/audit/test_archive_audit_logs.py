"""Archiving old audit rows to gzipped JSON Lines files, verified before the rows are deleted."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.core.management.color import color_style
from django.db import DatabaseError, connection, transaction
from django.utils.timezone import now

from audit.archive import (
    ArchiveFileExistsError,
    ArchiveVerificationError,
    archive_file_name,
    audit_logs_archive,
)
from audit.management.commands.archive_audit_logs import Command
from audit.models import AuditAction, AuditLog
from audit.tasks import archive_audit_logs

pytestmark = pytest.mark.django_db


def make_row(created_at: datetime, **fields: Any) -> AuditLog:
    # Straight to the model, not audit.services.record: only a test may backdate a row.
    defaults: dict[str, Any] = {
        "action": AuditAction.ACCOUNT_SIGNED_IN,
        "actor_id": 7,
        "actor_email": "olive@example.com",
        "subject_user_id": 7,
        "subject_email": "olive@example.com",
    }
    return AuditLog.objects.create(created_at=created_at, **{**defaults, **fields})


def days_ago(days: float) -> datetime:
    return now() - timedelta(days=days)


def read_archive(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def archived_ids(path: Path) -> list[int]:
    return [line["id"] for line in read_archive(path)]


def refused(sql: str, params: list) -> str:
    """Run SQL in a savepoint and return the database's refusal message."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(caught.value)


def test_it_archives_every_field_of_old_rows_then_deletes_them(tmp_path):
    first = make_row(
        datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        action=AuditAction.CONNECTION_DISCONNECTED,
        actor_id=1,
        actor_email="stella@example.com",
        subject_user_id=2,
        subject_email="olive@example.com",
        target_type="connections.calendarconnection",
        target_id="42",
        ip_address="203.0.113.9",
        user_agent="Firefox/140",
        metadata={"calendars": ["Work", "Família"], "nested": {"count": 2, "ok": True, "none": None}},
    )
    last = make_row(
        datetime(2024, 3, 15, 23, 59, 59, 1, tzinfo=UTC),
        action=AuditAction.CONNECTION_NEEDS_RECONNECT,
        actor_id=None,
        actor_email="",
        ip_address="2001:db8::1",
    )
    recent = make_row(days_ago(89))
    before = list(AuditLog.objects.filter(pk__in=[first.pk, last.pk]).order_by("id").values())

    report = audit_logs_archive(days=90, output_dir=tmp_path)

    name = f"audit-20240102-20240315-{first.pk:012d}-{last.pk:012d}.jsonl.gz"
    assert [path.name for path in tmp_path.iterdir()] == [name]  # no temporary file left behind
    lines = read_archive(tmp_path / name)
    assert [{**line, "created_at": datetime.fromisoformat(line["created_at"])} for line in lines] == before
    assert lines[0]["created_at"] == "2024-01-02T03:04:05.678901+00:00"
    assert (report.rows_older, report.rows_archived, [file.name for file in report.files]) == (2, 2, [name])

    assert not AuditLog.objects.filter(pk__in=[first.pk, last.pk]).exists()
    assert AuditLog.objects.filter(pk=recent.pk).exists()
    (archived,) = AuditLog.objects.filter(action=AuditAction.AUDIT_ARCHIVED)
    assert (archived.actor_id, archived.subject_user_id) == (None, None)
    assert archived.metadata == {
        "file": name,
        "count": 2,
        "first_id": first.pk,
        "last_id": last.pk,
        "sha256": hashlib.sha256(gzip.decompress((tmp_path / name).read_bytes())).hexdigest(),
        "cutoff": report.cutoff.isoformat(),
    }
    assert AuditLog.objects.count() == 2  # the recent row and the record of the archive


def test_it_leaves_the_database_refusing_delete_and_update_after_archiving(tmp_path):
    make_row(days_ago(100))
    kept = make_row(days_ago(1))
    assert audit_logs_archive(days=90, output_dir=tmp_path).rows_archived == 1
    # Still inside the transaction that archived (the test's own): the allowance must have been closed.
    assert "DELETE refused" in refused("DELETE FROM audit_logs WHERE id = %s", [kept.pk])
    assert "UPDATE refused" in refused("UPDATE audit_logs SET actor_email = 'x' WHERE id = %s", [kept.pk])
    assert AuditLog.objects.filter(pk=kept.pk, actor_email="olive@example.com").exists()


@pytest.mark.django_db(transaction=True)
def test_it_commits_each_batch_and_the_next_transaction_may_not_delete(tmp_path):
    old = make_row(days_ago(100))
    kept = make_row(days_ago(1))
    assert audit_logs_archive(days=90, output_dir=tmp_path).rows_archived == 1
    assert not AuditLog.objects.filter(pk=old.pk).exists()
    assert "DELETE refused" in refused("DELETE FROM audit_logs WHERE id = %s", [kept.pk])


def test_it_archives_and_deletes_nothing_without_an_output_folder(tmp_path):
    make_row(days_ago(100))
    make_row(days_ago(200))
    report = audit_logs_archive(days=90, output_dir=None)
    assert (report.output_dir, report.rows_older, report.rows_archived) == (None, 2, 0)
    assert AuditLog.objects.count() == 2


def test_the_command_warns_and_succeeds_without_an_output_folder(settings):
    settings.AUDIT_ARCHIVE_DIR = ""
    make_row(days_ago(100))
    out = StringIO()
    call_command("archive_audit_logs", stdout=out, force_color=True)
    warning = color_style(force_color=True).WARNING(
        "No archive folder: set AUDIT_ARCHIVE_DIR or pass --output. Nothing was archived or deleted; "
        "1 audit rows older than 90 days are kept."
    )
    assert warning in out.getvalue()
    assert AuditLog.objects.count() == 1


def test_the_task_logs_a_warning_without_an_output_folder(settings, caplog):
    settings.AUDIT_ARCHIVE_DIR = ""
    make_row(days_ago(100))
    with caplog.at_level(logging.WARNING, logger="audit.tasks"):
        assert archive_audit_logs() == 0
    assert "AUDIT_ARCHIVE_DIR is not set: 1 audit rows past retention kept." in caplog.messages
    assert AuditLog.objects.count() == 1


def test_the_task_archives_with_the_settings(settings, tmp_path):
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path)
    settings.AUDIT_RETENTION_DAYS = 30
    old = make_row(days_ago(31))
    make_row(days_ago(29))
    assert archive_audit_logs() == 1
    (path,) = tmp_path.iterdir()
    assert archived_ids(path) == [old.pk]


def test_it_writes_and_deletes_nothing_in_a_dry_run(tmp_path):
    make_row(days_ago(100))
    make_row(days_ago(1))
    report = audit_logs_archive(days=90, output_dir=tmp_path, dry_run=True)
    assert (report.rows_older, report.rows_archived) == (1, 0)
    assert list(tmp_path.iterdir()) == []
    assert AuditLog.objects.count() == 2
    out = StringIO()
    call_command("archive_audit_logs", "--output", str(tmp_path), "--dry-run", stdout=out)
    assert f"1 audit rows older than 90 days would be archived to {tmp_path} (dry run)." in out.getvalue()
    assert list(tmp_path.iterdir()) == []
    assert AuditLog.objects.count() == 2


def test_it_makes_one_file_per_batch_in_id_order(tmp_path):
    rows = [make_row(days_ago(100 - index)) for index in range(5)]
    report = audit_logs_archive(days=90, output_dir=tmp_path, batch_size=2)
    names = sorted(path.name for path in tmp_path.iterdir())
    assert names == [file.name for file in report.files]  # the names sort in archive order
    ids = [row.pk for row in rows]
    assert [archived_ids(tmp_path / name) for name in names] == [ids[0:2], ids[2:4], ids[4:5]]
    records = AuditLog.objects.filter(action=AuditAction.AUDIT_ARCHIVED).order_by("id")
    assert [(record.metadata["file"], record.metadata["count"]) for record in records] == list(
        zip(names, [2, 2, 1], strict=True)
    )
    assert not AuditLog.objects.filter(pk__in=ids).exists()


def test_the_command_reports_each_file_and_a_summary(tmp_path):
    rows = [make_row(days_ago(100 - index)) for index in range(3)]
    out = StringIO()
    call_command("archive_audit_logs", "--days", "90", "--output", str(tmp_path), "--batch-size", "2", stdout=out)
    first, second = sorted(path.name for path in tmp_path.iterdir())
    assert out.getvalue().splitlines() == [
        f"{first}: wrote 2 rows (ids {rows[0].pk}-{rows[1].pk})",
        f"{first}: verified, 2 rows deleted from audit_logs",
        f"{second}: wrote 1 rows (ids {rows[2].pk}-{rows[2].pk})",
        f"{second}: verified, 1 rows deleted from audit_logs",
        f"3 audit rows older than 90 days archived to {tmp_path} in 2 files and deleted.",
    ]


def test_the_command_help_says_it_is_the_only_way_out():
    text = " ".join(Command().create_parser("manage.py", "archive_audit_logs").format_help().split())
    assert "the only way audit rows leave the audit_logs table" in text
    for option in ("--days", "--output", "--dry-run", "--batch-size"):
        assert option in text


def test_the_command_refuses_a_missing_folder(tmp_path):
    make_row(days_ago(100))
    with pytest.raises(CommandError, match="does not exist"):
        call_command("archive_audit_logs", "--output", str(tmp_path / "not-mounted"), stdout=StringIO())
    assert AuditLog.objects.count() == 1
    assert list(tmp_path.iterdir()) == []


def other_rows_archive(rows: list[AuditLog]) -> bytes:
    """A well-formed archive of the same ids with one field changed."""
    lines = [json.dumps({"id": row.pk, "action": "account.deleted"}) + "\n" for row in rows]
    return gzip.compress("".join(lines).encode())


@pytest.mark.parametrize("content", [lambda rows: b"precious, not an archive", other_rows_archive])
def test_it_never_overwrites_an_existing_file_and_then_deletes_nothing(tmp_path, content):
    rows = [make_row(days_ago(100)), make_row(days_ago(99))]
    name = archive_file_name(
        first_created=rows[0].created_at, last_created=rows[1].created_at, first_id=rows[0].pk, last_id=rows[1].pk
    )
    existing = tmp_path / name
    existing.write_bytes(content(rows))
    with pytest.raises(ArchiveFileExistsError, match="Refusing to overwrite"):
        audit_logs_archive(days=90, output_dir=tmp_path)
    assert existing.read_bytes() == content(rows)
    assert [path.name for path in tmp_path.iterdir()] == [name]
    assert AuditLog.objects.count() == 2


def test_it_uses_the_file_left_by_a_run_stopped_before_deleting(tmp_path):
    rows = [make_row(days_ago(100 - index)) for index in range(3)]

    class Stopped(Exception):
        pass

    def stop_once_written(message: str) -> None:
        if ": wrote " in message:
            raise Stopped

    with pytest.raises(Stopped):
        audit_logs_archive(days=90, output_dir=tmp_path, progress=stop_once_written)
    (left,) = tmp_path.iterdir()
    left_bytes, left_inode = left.read_bytes(), left.stat().st_ino
    assert AuditLog.objects.count() == 3

    report = audit_logs_archive(days=90, output_dir=tmp_path)
    assert [file.name for file in report.files] == [left.name]
    assert (left.read_bytes(), left.stat().st_ino) == (left_bytes, left_inode)
    assert [path.name for path in tmp_path.iterdir()] == [left.name]
    assert not AuditLog.objects.filter(pk__in=[row.pk for row in rows]).exists()


def drop_last_line(path: Path) -> None:
    lines = gzip.decompress(path.read_bytes()).splitlines(keepends=True)
    path.write_bytes(gzip.compress(b"".join(lines[:-1])))


def change_one_field(path: Path) -> None:
    text = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(text.replace(b"olive@example.com", b"oliv3@example.com", 1)))


@pytest.mark.parametrize("tamper", [drop_last_line, change_one_field])
def test_it_deletes_nothing_when_the_file_read_back_is_not_what_was_written(tmp_path, tamper):
    make_row(days_ago(100))
    make_row(days_ago(99))

    def tamper_once_written(message: str) -> None:
        # The file is in place and not yet verified: change it underneath, as a failing disk would.
        if ": wrote " in message:
            (path,) = tmp_path.iterdir()
            tamper(path)

    with pytest.raises(ArchiveVerificationError):
        audit_logs_archive(days=90, output_dir=tmp_path, progress=tamper_once_written)
    assert AuditLog.objects.count() == 2
    assert not AuditLog.objects.filter(action=AuditAction.AUDIT_ARCHIVED).exists()


def test_it_refuses_a_retention_shorter_than_the_database_allows(tmp_path):
    make_row(days_ago(40))
    with pytest.raises(ValueError, match="at least 30"):
        audit_logs_archive(days=29, output_dir=tmp_path)
    assert list(tmp_path.iterdir()) == [] and AuditLog.objects.count() == 1
