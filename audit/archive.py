"""Archiving old audit rows: the only way rows leave audit_logs.

Each batch of rows becomes one gzipped JSON Lines file in a durable folder. The file is written under a
temporary name, fsynced, put in place without overwriting anything, read back and checked, and only then
are exactly those rows deleted, in one transaction that also records the archive as an audit row.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.db import connection, transaction
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from audit.services import record

# Rows fetched per round trip while streaming a batch; a batch is never held as model instances.
FETCH_CHUNK_SIZE = 2_000
# The shortest retention: the database refuses to delete audit rows younger than this (audit migration 0004).
MIN_ARCHIVE_DAYS = 30
FIELD_NAMES = tuple(field.attname for field in AuditLog._meta.concrete_fields)


class ArchiveError(Exception):
    """The archive could not be written or checked; no row of the batch concerned was deleted."""


class ArchiveFileExistsError(ArchiveError):
    pass


class ArchiveVerificationError(ArchiveError):
    pass


@dataclass(frozen=True)
class ArchivedFile:
    name: str
    count: int
    first_id: int
    last_id: int
    sha256: str  # of the uncompressed file: `zcat <name> | sha256sum`


@dataclass(frozen=True)
class ArchiveReport:
    cutoff: datetime
    output_dir: Path | None  # None: no durable folder configured, so nothing was archived
    dry_run: bool
    rows_older: int  # rows created before the cutoff when the run started
    files: tuple[ArchivedFile, ...] = ()

    @property
    def rows_archived(self) -> int:
        return sum(file.count for file in self.files)


@dataclass
class _WrittenBatch:
    temporary: Path
    ids: list[int]
    sha256: str
    first_created: datetime
    last_created: datetime


def audit_logs_archive(
    *,
    days: int,
    output_dir: Path | None,
    dry_run: bool = False,
    batch_size: int = 50_000,
    progress: Callable[[str], None] | None = None,
) -> ArchiveReport:
    """Archive audit rows created more than `days` days ago into `output_dir`, then delete them.

    Without an `output_dir` nothing is archived or deleted. `progress` is called twice per file: when the
    file is in place (before it is verified) and when its rows have been deleted. Raises ArchiveError
    subclasses, after which the batch concerned is still in the table; earlier batches stay archived.
    """
    if days < MIN_ARCHIVE_DAYS:
        # The database refuses to delete younger rows (audit migration 0004): say so before writing files.
        raise ValueError(f"days must be at least {MIN_ARCHIVE_DAYS}: younger audit rows are never deleted")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = now() - timedelta(days=days)
    older = AuditLog.objects.filter(created_at__lt=cutoff)
    rows_older = older.count()
    if output_dir is None or not str(output_dir):
        return ArchiveReport(cutoff=cutoff, output_dir=None, dry_run=dry_run, rows_older=rows_older)
    output_dir = Path(output_dir)
    # A missing folder is refused rather than created: it may be a volume that failed to mount.
    if not output_dir.is_dir():
        raise ArchiveError(f"Archive folder {output_dir} does not exist or is not a folder.")
    if dry_run:
        return ArchiveReport(cutoff=cutoff, output_dir=output_dir, dry_run=True, rows_older=rows_older)

    say = progress or (lambda message: None)
    files: list[ArchivedFile] = []
    last_id = 0
    while True:
        rows = (
            older.filter(id__gt=last_id)
            .order_by("id")
            .values(*FIELD_NAMES)[:batch_size]
            .iterator(chunk_size=min(batch_size, FETCH_CHUNK_SIZE))
        )
        batch = _write_batch(rows, output_dir)
        if batch is None:
            break
        archived = _archive_batch(batch, output_dir=output_dir, cutoff=cutoff, say=say)
        files.append(archived)
        last_id = archived.last_id
    return ArchiveReport(cutoff=cutoff, output_dir=output_dir, dry_run=False, rows_older=rows_older, files=tuple(files))


def archive_file_name(*, first_created: datetime, last_created: datetime, first_id: int, last_id: int) -> str:
    """Unique (ids never repeat) and sortable by name."""
    first_day, last_day = first_created.astimezone(UTC), last_created.astimezone(UTC)
    return f"audit-{first_day:%Y%m%d}-{last_day:%Y%m%d}-{first_id:012d}-{last_id:012d}.jsonl.gz"


def _write_batch(rows: Iterator[dict[str, Any]], output_dir: Path) -> _WrittenBatch | None:
    """Stream rows into a gzipped temporary file in `output_dir`, flushed and fsynced; None if no rows."""
    descriptor, name = tempfile.mkstemp(dir=output_dir, prefix=".audit-", suffix=".jsonl.gz.tmp")
    temporary = Path(name)
    ids: list[int] = []
    digest = hashlib.sha256()
    first_created: datetime | None = None
    last_created: datetime | None = None
    try:
        with open(descriptor, "wb") as raw:
            # filename="": the temporary name must not end up in the gzip header.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw) as compressed:
                for row in rows:
                    line = _serialize(row)
                    compressed.write(line)
                    digest.update(line)
                    ids.append(row["id"])
                    first_created = first_created or row["created_at"]
                    last_created = row["created_at"]
            raw.flush()
            os.fsync(raw.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if first_created is None or last_created is None:
        temporary.unlink()
        return None
    return _WrittenBatch(temporary, ids, digest.hexdigest(), first_created, last_created)


def _serialize(row: dict[str, Any]) -> bytes:
    # Not DjangoJSONEncoder: it cuts timestamps to milliseconds.
    values = {name: value.isoformat() if isinstance(value, datetime) else value for name, value in row.items()}
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _archive_batch(
    batch: _WrittenBatch, *, output_dir: Path, cutoff: datetime, say: Callable[[str], None]
) -> ArchivedFile:
    archived = ArchivedFile(
        name=archive_file_name(
            first_created=batch.first_created,
            last_created=batch.last_created,
            first_id=batch.ids[0],
            last_id=batch.ids[-1],
        ),
        count=len(batch.ids),
        first_id=batch.ids[0],
        last_id=batch.ids[-1],
        sha256=batch.sha256,
    )
    path = output_dir / archived.name
    try:
        left_by_earlier_run = not _place(batch.temporary, path)
    finally:
        batch.temporary.unlink(missing_ok=True)
    _fsync_folder(output_dir)

    if left_by_earlier_run:
        # A run stopped between writing this file and deleting its rows leaves it behind; a file holding
        # exactly these rows is used as it is, anything else is left alone.
        try:
            _verify(path, ids=batch.ids, sha256=batch.sha256)
        except ArchiveVerificationError as error:
            raise ArchiveFileExistsError(
                f"{path} already exists and does not hold exactly the {archived.count} rows to archive "
                f"({error}). Refusing to overwrite it; nothing was deleted. Check it and move it away."
            ) from error
        say(f"{archived.name}: found from an earlier run with exactly these {archived.count} rows")
    else:
        say(f"{archived.name}: wrote {archived.count} rows (ids {archived.first_id}-{archived.last_id})")
        _verify(path, ids=batch.ids, sha256=batch.sha256)

    _delete_archived(archived, ids=batch.ids, cutoff=cutoff)
    say(f"{archived.name}: verified, {archived.count} rows deleted from audit_logs")
    return archived


def _verify(path: Path, *, ids: list[int], sha256: str) -> None:
    """Read the file back as a reader will and check it holds exactly the selected rows, byte for byte."""
    found: list[int] = []
    digest = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as compressed:
            for line in compressed:
                digest.update(line)
                found.append(int(json.loads(line)["id"]))
    except (OSError, EOFError, ValueError, KeyError, TypeError) as error:
        raise ArchiveVerificationError(f"{path} cannot be read back: {error!r}") from error
    if found != ids:
        raise ArchiveVerificationError(f"{path} holds {len(found)} rows, not the {len(ids)} selected ones")
    if digest.hexdigest() != sha256:
        raise ArchiveVerificationError(f"{path} does not match the rows written (sha256 {digest.hexdigest()})")


def _delete_archived(archived: ArchivedFile, *, ids: list[int], cutoff: datetime) -> None:
    # Durable: the deletion commits here, matching the file already on disk, never with a caller's work.
    with transaction.atomic(durable=True):
        postgres = connection.vendor == "postgresql"
        if postgres:
            _allow_archive_delete(True)
        deleted = 0
        step = connection.features.max_query_params or 10_000
        for start in range(0, len(ids), step):
            deleted += AuditLog.objects.filter(id__in=ids[start : start + step]).delete()[0]
        if postgres:
            # The allowance names this transaction; close it anyway in case a caller's transaction goes on.
            _allow_archive_delete(False)
        if deleted != len(ids):
            raise ArchiveError(f"Deleting the rows of {archived.name} found {deleted} of {len(ids)}; rolled back.")
        record(
            action=AuditAction.AUDIT_ARCHIVED,
            metadata={
                "file": archived.name,
                "count": archived.count,
                "first_id": archived.first_id,
                "last_id": archived.last_id,
                "sha256": archived.sha256,
                "cutoff": cutoff.isoformat(),
            },
        )


def _allow_archive_delete(allow: bool) -> None:
    # See audit/migrations/0002_immutable_audit_logs.py: the trigger lets a DELETE through only in the
    # transaction whose id this setting holds.
    with connection.cursor() as cursor:
        if allow:
            cursor.execute("SELECT set_config('calsync.audit_archive', txid_current()::text, true)")
        else:
            cursor.execute("SELECT set_config('calsync.audit_archive', '', true)")


def _place(temporary: Path, path: Path) -> bool:
    """Move the written file to its name; False, leaving everything as it was, when that name is taken."""
    try:
        # A hard link, unlike a rename, fails instead of replacing a file already there.
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    except OSError:
        # Some network and object-store mounts have no hard links. The job's lease keeps a second archive
        # run away, so checking for the name and then renaming cannot race with ourselves.
        if path.exists():
            return False
        os.rename(temporary, path)
        return True


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
