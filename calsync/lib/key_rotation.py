"""Key rotation: re-encrypt every secret at rest under the newest key of ENCRYPTION_KEYS.

The encrypted columns are found through the apps registry (every concrete model field that is an
EncryptedTextField), so a new encrypted field is rotated without touching this module. Like the fields, it
knows no app: a run that changed something sends `secrets_rotated`, which the audit app records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models.functions import Cast, Left
from django.dispatch import Signal

from calsync.lib.crypto import FORMAT_VERSION, DecryptionError, Keyring, current_keyring, key_id_of
from calsync.lib.fields import EncryptedTextField

EncryptedModel = tuple[type[models.Model], tuple[EncryptedTextField, ...]]

# Sent with `metadata` (counts and key ids only) when a run changed something, interrupted or not, after its
# last committed batch; its receiver writes the SECRETS_ROTATED audit row (audit.signals).
secrets_rotated = Signal()


@dataclass(frozen=True)
class RotationFailure:
    """A stored value that does not decrypt, named by where it is (never by what it holds)."""

    model: str
    pk: Any
    field: str
    key_id: str | None  # None when the value is not a calsync ciphertext at all
    reason: str


@dataclass
class RotationReport:
    current_key_id: str
    dry_run: bool
    # Rows re-encrypted (in a dry run: that would be), per model label.
    rows_by_model: Counter[str] = field(default_factory=Counter)
    # Values re-encrypted (or that would be), per the old key id they were under.
    values_by_key_id: Counter[str] = field(default_factory=Counter)
    failures: list[RotationFailure] = field(default_factory=list)
    # Rows still holding a value under another key when the run ended, per model label (failed rows included).
    remaining_by_model: dict[str, int] = field(default_factory=dict)

    @property
    def rows_rotated(self) -> int:
        return sum(self.rows_by_model.values())

    @property
    def values_rotated(self) -> int:
        return sum(self.values_by_key_id.values())

    @property
    def remaining(self) -> int:
        return sum(self.remaining_by_model.values())

    @property
    def complete(self) -> bool:
        """Nothing failed and nothing is left under an old key: the old keys can be removed."""
        return not self.failures and not self.remaining


def encrypted_models() -> list[EncryptedModel]:
    """Every concrete model with encrypted columns in its own table, and those fields."""
    found: list[EncryptedModel] = []
    for model in apps.get_models():
        if model._meta.proxy:
            continue
        # local_concrete_fields: a multi-table child's inherited columns are rotated with its parent's table.
        fields = tuple(f for f in model._meta.local_concrete_fields if isinstance(f, EncryptedTextField))
        if fields:
            found.append((model, fields))
    return found


def secrets_rotate(
    *, batch_size: int = 500, dry_run: bool = False, progress: Callable[[str], None] | None = None
) -> RotationReport:
    """Re-encrypt every value not under the current key (the first of ENCRYPTION_KEYS) under it.

    Rows are picked by the database from the raw column (any value whose header is not `v1.<current id>.`),
    in primary-key order and in batches; each batch is its own transaction and locks its rows, so a token
    refresh running at the same time (which locks the row too) is never overwritten with a stale value.
    Only the encrypted columns are written; `updated_at` and the rest of the row stay as they were.

    Resumable: a run only ever picks rows still under an old key and each batch commits on its own, so a
    run that is interrupted (or crashes) simply continues where it stopped when run again.

    A value that does not decrypt (unknown key id, tampered, not a ciphertext) is not fatal: it is reported
    by model, pk and field, its whole row is left as it is, and the run continues. `dry_run` counts what
    would be re-encrypted (and what would fail) and writes nothing. A run that changed something sends
    `secrets_rotated`: one SECRETS_ROTATED audit row with counts and the current key id, also when it was
    interrupted.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    keyring = current_keyring()
    report = RotationReport(current_key_id=keyring.current_id, dry_run=dry_run)
    finished = False
    try:
        for model, fields in encrypted_models():
            _rotate_model(model, fields, keyring=keyring, batch_size=batch_size, report=report, progress=progress)
        for model, fields in encrypted_models():
            left = _stale_rows(model, fields, keyring.current_id).count()
            if left:
                report.remaining_by_model[model._meta.label_lower] = left
        finished = True
    finally:
        # Batches commit one by one, so a run that stops half-way has changed secrets too: audit it as well.
        if not dry_run and report.rows_rotated:
            secrets_rotated.send(sender=RotationReport, metadata=_audit_metadata(report, finished))
    return report


def _rotate_model(
    model: type[models.Model],
    fields: tuple[EncryptedTextField, ...],
    *,
    keyring: Keyring,
    batch_size: int,
    report: RotationReport,
    progress: Callable[[str], None] | None,
) -> None:
    label = model._meta.label_lower
    stale = _stale_rows(model, fields, keyring.current_id).order_by("pk")
    raw_names = [_raw_name(f) for f in fields]
    last_pk: Any = None
    while True:
        batch = stale if last_pk is None else stale.filter(pk__gt=last_pk)
        rotated_values: Counter[str] = Counter()  # per old key id
        failures: list[RotationFailure] = []
        rotated = failed = 0
        with transaction.atomic():
            if not report.dry_run:
                # PostgreSQL re-checks the filter on a row it had to wait for: a row a concurrent refresh
                # just rewrote under the current key drops out, and one still stale is read fresh.
                batch = batch.select_for_update()
            rows = list(batch.values_list("pk", *raw_names)[:batch_size])
            if not rows:
                return
            for pk, *raw_values in rows:
                updates, old_key_ids, row_failures = _decrypt_stale(label, pk, fields, raw_values, keyring)
                if row_failures:  # the row is left as it is, its readable values too
                    failures.extend(row_failures)
                    failed += 1
                    continue
                if not updates:
                    continue
                if not report.dry_run:
                    # QuerySet.update: the field encrypts under the current key; auto_now fields stay put.
                    model._base_manager.filter(pk=pk).update(**updates)
                rotated += 1
                rotated_values.update(old_key_ids)
        # Counted once the batch has committed, so the report never claims a write that was rolled back.
        if rotated:
            report.rows_by_model[label] += rotated
        report.values_by_key_id.update(rotated_values)
        report.failures.extend(failures)
        last_pk = rows[-1][0]
        if progress is not None:
            verb = "would be re-encrypted" if report.dry_run else "re-encrypted"
            progress(f"{label}: {len(rows)} rows up to pk {last_pk}: {rotated} {verb}, {failed} failed")


def _decrypt_stale(
    label: str, pk: Any, fields: tuple[EncryptedTextField, ...], raw_values: list[Any], keyring: Keyring
) -> tuple[dict[str, Any], list[str], list[RotationFailure]]:
    """The row's values under an old key, decrypted (field name -> value), their key ids, and what failed."""
    prefix = _prefix(keyring.current_id)
    updates: dict[str, Any] = {}
    old_key_ids: list[str] = []
    failures: list[RotationFailure] = []
    for encrypted_field, raw in zip(fields, raw_values, strict=True):
        if raw is None or raw.startswith(prefix):
            continue
        try:
            plaintext = keyring.decrypt(raw, encrypted_field.encryption_context())
        except DecryptionError as error:
            failures.append(RotationFailure(label, pk, encrypted_field.name, _key_id_or_none(raw), str(error)))
            continue
        updates[encrypted_field.name] = encrypted_field.from_plaintext(plaintext)
        old_key_ids.append(key_id_of(raw))
    return updates, old_key_ids, failures


def _stale_rows(
    model: type[models.Model], fields: tuple[EncryptedTextField, ...], current_key_id: str
) -> models.QuerySet[Any]:
    """Rows holding any value whose header does not name the current key, decided on the raw column.

    Cast to a plain TextField makes the database return (and compare) the stored ciphertext: the
    expression's output field is TextField, so the encrypted field's decrypting from_db_value never runs.
    The header is compared with `=` on its first characters rather than LIKE, which SQLite treats as
    case-insensitive (key ids are case-sensitive).
    """
    prefix = _prefix(current_key_id)
    # The base manager: a custom default manager (e.g. one hiding soft-deleted rows) must not hide secrets.
    queryset = model._base_manager.annotate(
        **{_raw_name(f): Cast(f.name, output_field=models.TextField()) for f in fields}
    ).alias(**{_head_name(f): Left(_raw_name(f), len(prefix)) for f in fields})
    stale = models.Q()
    for f in fields:
        stale |= models.Q(**{f"{_raw_name(f)}__isnull": False}) & ~models.Q(**{_head_name(f): prefix})
    return queryset.filter(stale)


def _audit_metadata(report: RotationReport, finished: bool) -> dict[str, Any]:
    # Counts and key ids only: no values, no ciphertexts, no primary keys.
    return {
        "current_key_id": report.current_key_id,
        "rows_by_model": dict(report.rows_by_model),
        "values_by_old_key_id": dict(report.values_by_key_id),
        "failures": len(report.failures),
        "remaining": report.remaining if finished else None,
        "interrupted": not finished,
    }


def _prefix(key_id: str) -> str:
    return f"{FORMAT_VERSION}.{key_id}."


def _raw_name(f: EncryptedTextField) -> str:
    return f"rotation_raw_{f.name}"


def _head_name(f: EncryptedTextField) -> str:
    return f"rotation_head_{f.name}"


def _key_id_or_none(raw: str) -> str | None:
    try:
        return key_id_of(raw)
    except DecryptionError:
        return None
