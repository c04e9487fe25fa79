"""rotate_encryption_key: every secret at rest ends under the newest key, resumably, without losing a value."""

from __future__ import annotations

import base64
import json
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from calsync.lib.crypto import generate_key, key_id_of
from calsync.lib.key_rotation import RotationFailure, encrypted_models, secrets_rotate
from connections.models import OAuthState, ProviderAccount
from tests.factories import make_account

OLD = f"old:{generate_key()}"
NEW = f"new:{generate_key()}"
ROTATING = f"{NEW},{OLD}"  # step 1 of the procedure: the new key first, the old one still readable
ACCOUNT = "connections.provideraccount"
STATE = "connections.oauthstate"
ACCESS = "ya29.access-token-secret"
REFRESH = "1//refresh-token-secret"
PASSWORD = "caldav-app-password-secret"


def raw(model, column: str, pk: int) -> str | None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (names are constants)
        return cursor.fetchone()[0]


def sealed(model, column: str, pk: int) -> str:
    value = raw(model, column, pk)
    assert value is not None, f"{column} of {pk} is empty"
    return value


def stored_key_id(model, column: str, pk: int) -> str:
    return key_id_of(sealed(model, column, pk))


def raw_row(account: ProviderAccount) -> tuple[str | None, ...]:
    return tuple(raw(ProviderAccount, column, account.pk) for column in ProviderAccount.SECRET_FIELDS)


def key_ids(account: ProviderAccount) -> set[str]:
    return {key_id_of(value) for value in raw_row(account) if value is not None}


def write_raw(model, column: str, pk: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {model._meta.db_table} SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


def tampered(token: str) -> str:
    header, payload = token.rsplit(".", 1)
    sealed = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    sealed[len(sealed) // 2] ^= 0x01
    return header + "." + base64.urlsafe_b64encode(bytes(sealed)).decode().rstrip("=")


def old_account(owner, settings, **fields) -> ProviderAccount:
    """An account written before the new key existed."""
    settings.ENCRYPTION_KEYS = OLD
    account = make_account(owner, **{"access_token": ACCESS, "refresh_token": REFRESH, **fields})
    settings.ENCRYPTION_KEYS = ROTATING
    return account


def make_state(owner, flow) -> OAuthState:
    return OAuthState.objects.create(
        state=f"state-{OAuthState.objects.count()}",
        user=owner,
        session_key_hash="h" * 64,
        provider="microsoft",
        flow=flow,
        expires_at="2030-01-01T00:00:00Z",
    )


def rotations() -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=AuditAction.SECRETS_ROTATED))


def test_it_finds_the_encrypted_fields_through_the_apps_registry():
    found = {(model._meta.label_lower, field.name) for model, fields in encrypted_models() for field in fields}
    assert {
        (ACCOUNT, "access_token"),
        (ACCOUNT, "refresh_token"),
        (ACCOUNT, "password"),
        (STATE, "flow"),
    } <= found


def test_it_re_encrypts_old_values_under_the_new_key(owner, settings):
    account = old_account(owner, settings, password=PASSWORD)
    caldav = old_account(owner, settings, access_token=None, refresh_token=None, password=PASSWORD)
    updated_at = ProviderAccount.objects.get(pk=account.pk).updated_at
    assert key_ids(account) == {"old"}

    report = secrets_rotate()

    assert key_ids(account) == {"new"}
    assert stored_key_id(ProviderAccount, "password", caldav.pk) == "new"
    assert raw(ProviderAccount, "access_token", caldav.pk) is None  # an empty column stays empty
    assert report.rows_by_model == {ACCOUNT: 2}
    assert report.values_by_key_id == {"old": 4}
    assert report.failures == []
    assert report.remaining == 0
    assert report.complete

    settings.ENCRYPTION_KEYS = NEW  # step 4: the old key is gone, and every value still reads
    reloaded = ProviderAccount.objects.get(pk=account.pk)
    assert (reloaded.access_token, reloaded.refresh_token, reloaded.password) == (ACCESS, REFRESH, PASSWORD)
    assert reloaded.updated_at == updated_at
    assert ProviderAccount.objects.get(pk=caldav.pk).password == PASSWORD


def test_it_leaves_values_already_under_the_new_key_untouched(owner, settings):
    settings.ENCRYPTION_KEYS = ROTATING
    current = make_account(owner, access_token=ACCESS, refresh_token=REFRESH)
    mixed = old_account(owner, settings)
    # A refresh after the deploy wrote the refresh token under the new key; the access token is still old.
    ProviderAccount.objects.filter(pk=mixed.pk).update(refresh_token="1//refreshed-after-deploy")
    current_before = raw_row(current)
    mixed_refresh_before = raw(ProviderAccount, "refresh_token", mixed.pk)

    report = secrets_rotate()

    assert raw_row(current) == current_before
    assert raw(ProviderAccount, "refresh_token", mixed.pk) == mixed_refresh_before
    assert stored_key_id(ProviderAccount, "access_token", mixed.pk) == "new"
    assert report.rows_by_model == {ACCOUNT: 1}
    assert report.values_by_key_id == {"old": 1}
    assert ProviderAccount.objects.get(pk=mixed.pk).access_token == ACCESS


def test_it_changes_nothing_in_a_dry_run(owner, settings):
    accounts = [old_account(owner, settings), old_account(owner, settings, password=PASSWORD)]
    state = make_state(owner, {"code_verifier": "v" * 43})
    settings.ENCRYPTION_KEYS = OLD
    older_state = make_state(owner, {"code_verifier": "w" * 43})
    settings.ENCRYPTION_KEYS = ROTATING
    before = [raw_row(account) for account in accounts]
    states_before = [raw(OAuthState, "flow", state.pk), raw(OAuthState, "flow", older_state.pk)]

    report = secrets_rotate(dry_run=True, batch_size=1)

    assert [raw_row(account) for account in accounts] == before
    assert [raw(OAuthState, "flow", state.pk), raw(OAuthState, "flow", older_state.pk)] == states_before
    assert report.dry_run
    assert report.rows_by_model == {ACCOUNT: 2, STATE: 1}
    assert report.values_by_key_id == {"old": 6}
    assert report.remaining_by_model == {ACCOUNT: 2, STATE: 1}
    assert rotations() == []

    out = StringIO()
    call_command("rotate_encryption_key", "--dry-run", stdout=out)
    assert "Dry run: 3 rows would be re-encrypted under key 'new'" in out.getvalue()
    assert [raw_row(account) for account in accounts] == before


def test_it_resumes_after_an_interruption(owner, settings):
    accounts = [old_account(owner, settings) for _ in range(3)]

    class Interrupted(Exception):
        pass

    lines: list[str] = []

    def stop_after_the_first_batch(line: str) -> None:
        lines.append(line)
        raise Interrupted

    with pytest.raises(Interrupted):
        secrets_rotate(batch_size=1, progress=stop_after_the_first_batch)

    # The first batch committed before the interruption; the rest still waits under the old key.
    assert [stored_key_id(ProviderAccount, "access_token", a.pk) for a in accounts] == ["new", "old", "old"]
    assert lines == [f"{ACCOUNT}: 1 rows up to pk {accounts[0].pk}: 1 re-encrypted, 0 failed"]
    [interrupted] = rotations()
    assert interrupted.metadata["interrupted"] is True
    assert interrupted.metadata["rows_by_model"] == {ACCOUNT: 1}
    first_after_interruption = raw_row(accounts[0])

    progress: list[str] = []
    report = secrets_rotate(batch_size=1, progress=progress.append)

    assert [stored_key_id(ProviderAccount, "access_token", a.pk) for a in accounts] == ["new", "new", "new"]
    assert raw_row(accounts[0]) == first_after_interruption  # done once, not again
    assert report.rows_by_model == {ACCOUNT: 2}
    assert report.complete
    assert len(progress) == 2
    for account in accounts:
        assert ProviderAccount.objects.get(pk=account.pk).access_token == ACCESS


def test_it_reports_undecryptable_values_and_rotates_the_rest(owner, settings):
    good = old_account(owner, settings)
    settings.ENCRYPTION_KEYS = f"gone:{generate_key()}"
    unknown_key = make_account(owner, access_token=ACCESS)
    bad = old_account(owner, settings)
    write_raw(ProviderAccount, "access_token", bad.pk, tampered(sealed(ProviderAccount, "access_token", bad.pk)))
    settings.ENCRYPTION_KEYS = ROTATING
    unknown_before, bad_before = raw_row(unknown_key), raw_row(bad)

    report = secrets_rotate(batch_size=2)

    assert key_ids(good) == {"new"}
    assert raw_row(unknown_key) == unknown_before
    assert raw_row(bad) == bad_before  # left alone as a whole, its readable refresh token included
    assert [(f.model, f.pk, f.field, f.key_id) for f in report.failures] == [
        (ACCOUNT, unknown_key.pk, "access_token", "gone"),
        (ACCOUNT, bad.pk, "access_token", "old"),
    ]
    assert "'gone'" in report.failures[0].reason
    assert "failed authentication" in report.failures[1].reason
    assert report.rows_by_model == {ACCOUNT: 1}
    assert report.remaining_by_model == {ACCOUNT: 2}
    assert not report.complete


def test_it_reports_a_value_that_is_not_a_ciphertext(owner, settings):
    account = old_account(owner, settings)
    write_raw(ProviderAccount, "password", account.pk, "plain-text-password")

    report = secrets_rotate()

    assert report.failures == [
        RotationFailure(ACCOUNT, account.pk, "password", None, "value is not a calsync ciphertext")
    ]
    assert raw(ProviderAccount, "password", account.pk) == "plain-text-password"


def test_the_command_exits_non_zero_when_a_value_does_not_decrypt(owner, settings):
    good = old_account(owner, settings)
    settings.ENCRYPTION_KEYS = f"gone:{generate_key()}"
    lost = make_account(owner, access_token=ACCESS, refresh_token=REFRESH)
    settings.ENCRYPTION_KEYS = ROTATING
    out = StringIO()

    with pytest.raises(CommandError, match="2 values could not be decrypted"):
        call_command("rotate_encryption_key", "--batch-size", "1", stdout=out)

    output = out.getvalue()
    assert f"{ACCOUNT}: 1 rows up to pk {good.pk}: 1 re-encrypted, 0 failed" in output
    assert f"cannot decrypt {ACCOUNT} pk={lost.pk} field=access_token" in output
    assert f"cannot decrypt {ACCOUNT} pk={lost.pk} field=refresh_token" in output
    assert "1 rows re-encrypted under key 'new'" in output  # the summary comes before the error
    assert "2 values could not be decrypted; 1 rows left under an old key." in output
    assert "v1." not in output
    assert ACCESS not in output
    assert REFRESH not in output
    assert stored_key_id(ProviderAccount, "access_token", good.pk) == "new"


def test_the_command_succeeds_when_everything_is_rotated(owner, settings):
    old_account(owner, settings)
    out = StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "1 rows re-encrypted under key 'new'" in out.getvalue()
    assert "0 rows left under an old key." in out.getvalue()


def test_the_command_help_explains_the_procedure():
    from django.core.management import load_command_class

    command = load_command_class("calsync", "rotate_encryption_key")
    help_text = command.create_parser("manage.py", "rotate_encryption_key").format_help()
    assert "add it FIRST in ENCRYPTION_KEYS" in help_text
    assert "\n  2. Deploy" in help_text  # the steps keep their lines
    assert "remove the old entry from ENCRYPTION_KEYS" in help_text
    assert "--batch-size" in help_text
    assert "--dry-run" in help_text


def test_it_covers_oauth_state_flows(owner, settings):
    flow = {"code_verifier": "verifier-" + "x" * 43, "nonce": "n", "scopes": ["a", "b"]}
    settings.ENCRYPTION_KEYS = OLD
    state = make_state(owner, flow)
    settings.ENCRYPTION_KEYS = ROTATING

    report = secrets_rotate()

    assert stored_key_id(OAuthState, "flow", state.pk) == "new"
    assert report.rows_by_model == {STATE: 1}
    settings.ENCRYPTION_KEYS = NEW
    assert OAuthState.objects.get(pk=state.pk).flow == flow


def test_it_audits_a_run_with_counts_and_no_secrets(owner, settings):
    account = old_account(owner, settings, password=PASSWORD)
    settings.ENCRYPTION_KEYS = OLD
    make_state(owner, {"code_verifier": "verifier-secret"})
    settings.ENCRYPTION_KEYS = ROTATING
    before = raw_row(account)

    secrets_rotate()

    [row] = rotations()
    assert row.actor_id is None
    assert row.metadata == {
        "current_key_id": "new",
        "rows_by_model": {ACCOUNT: 1, STATE: 1},
        "values_by_old_key_id": {"old": 4},
        "failures": 0,
        "remaining": 0,
        "interrupted": False,
    }
    stored = json.dumps(row.metadata)
    for secret in (ACCESS, REFRESH, PASSWORD, "verifier-secret", *before, *raw_row(account), OLD, NEW):
        assert secret is not None
        assert secret not in stored

    secrets_rotate()  # nothing left to change: no second row
    assert len(rotations()) == 1


@pytest.mark.django_db(transaction=True)
def test_it_never_overwrites_a_concurrent_token_refresh(owner, settings):
    account = old_account(owner, settings)
    refresh_holds_the_lock = threading.Event()

    def refresh_while_the_rotation_waits() -> None:
        # What connections.credentials.account_refresh does: lock the row, store the new tokens, commit.
        try:
            with transaction.atomic():
                locked = ProviderAccount.objects.select_for_update().get(pk=account.pk)
                locked.access_token = "ya29.refreshed"
                locked.refresh_token = "1//rotated-by-provider"
                locked.last_refreshed_at = now()
                locked.save(update_fields=["access_token", "refresh_token", "last_refreshed_at", "updated_at"])
                refresh_holds_the_lock.set()
                wait_until_another_session_waits_for_a_lock()
        finally:
            connection.close()

    refresher = threading.Thread(target=refresh_while_the_rotation_waits)
    refresher.start()
    try:
        assert refresh_holds_the_lock.wait(timeout=30)
        report = secrets_rotate()
    finally:
        refresher.join(timeout=30)

    stored = ProviderAccount.objects.get(pk=account.pk)
    assert (stored.access_token, stored.refresh_token) == ("ya29.refreshed", "1//rotated-by-provider")
    assert report.rows_by_model == {}  # the refresh already wrote the row under the new key
    assert report.complete


def wait_until_another_session_waits_for_a_lock() -> None:
    """Hold the transaction open until the rotation is blocked on it (so the test does not race)."""
    deadline = time.monotonic() + 30
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
