"""Secrets at rest: AES-256-GCM with key ids, bound to table and column, rotatable."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import FieldError
from django.db import connection

from calsync.lib.crypto import DecryptionError, Keyring, KeyringError, generate_key, key_id_of
from connections.models import OAuthState, ProviderAccount
from tests.factories import make_account

OLD_KEYS = f"old:{generate_key()}"
NEW_KEY = f"new:{generate_key()}"
TOKEN = "ya29.a0-very-secret-access-token"


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608 (names are constants)
        return cursor.fetchone()[0]


def write_raw(table: str, column: str, pk: int, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, pk])  # noqa: S608


def test_it_stores_no_plaintext(owner):
    account = make_account(owner, access_token=TOKEN, refresh_token="1//refresh-secret", password=None)
    stored = raw_column("provider_accounts", "access_token", account.pk)
    assert TOKEN not in stored
    assert stored.startswith("v1.test.")
    assert raw_column("provider_accounts", "password", account.pk) is None
    assert ProviderAccount.objects.get(pk=account.pk).access_token == TOKEN


def test_it_uses_a_fresh_nonce_for_every_value(owner):
    first = make_account(owner, access_token=TOKEN)
    second = make_account(owner, access_token=TOKEN)
    assert raw_column("provider_accounts", "access_token", first.pk) != raw_column(
        "provider_accounts", "access_token", second.pk
    )


def test_it_refuses_a_flipped_byte(owner):
    account = make_account(owner, access_token=TOKEN)
    stored = raw_column("provider_accounts", "access_token", account.pk)
    header, payload = stored.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[len(raw) // 2] ^= 0x01
    tampered = header + "." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    write_raw("provider_accounts", "access_token", account.pk, tampered)
    with pytest.raises(DecryptionError, match="failed authentication"):
        ProviderAccount.objects.get(pk=account.pk)


def test_it_refuses_a_ciphertext_moved_to_another_column(owner):
    account = make_account(owner, access_token=TOKEN, refresh_token="refresh")
    write_raw(
        "provider_accounts", "refresh_token", account.pk, raw_column("provider_accounts", "access_token", account.pk)
    )
    with pytest.raises(DecryptionError):
        ProviderAccount.objects.get(pk=account.pk)


def test_it_reads_old_values_after_a_new_key_is_added_and_rotates_on_save(owner, settings):
    settings.ENCRYPTION_KEYS = OLD_KEYS
    account = make_account(owner, access_token=TOKEN)
    assert key_id_of(raw_column("provider_accounts", "access_token", account.pk)) == "old"

    settings.ENCRYPTION_KEYS = f"{NEW_KEY},{OLD_KEYS}"
    account = ProviderAccount.objects.get(pk=account.pk)
    assert account.access_token == TOKEN

    account.save()
    assert key_id_of(raw_column("provider_accounts", "access_token", account.pk)) == "new"

    settings.ENCRYPTION_KEYS = NEW_KEY  # the old key can go once everything is re-saved
    assert ProviderAccount.objects.get(pk=account.pk).access_token == TOKEN


def test_it_names_a_key_that_is_no_longer_configured(owner, settings):
    settings.ENCRYPTION_KEYS = OLD_KEYS
    account = make_account(owner, access_token=TOKEN)
    settings.ENCRYPTION_KEYS = NEW_KEY
    with pytest.raises(DecryptionError, match="'old'"):
        ProviderAccount.objects.get(pk=account.pk)


def test_it_allows_only_isnull_lookups(owner):
    make_account(owner, access_token=TOKEN)
    assert ProviderAccount.objects.filter(access_token__isnull=False).count() == 1
    with pytest.raises(FieldError):
        list(ProviderAccount.objects.filter(access_token=TOKEN))


def test_it_round_trips_an_encrypted_json_flow(owner):
    flow = {"code_verifier": "verifier-" + "x" * 43, "nonce": "n", "scopes": ["a", "b"]}
    state = OAuthState.objects.create(
        state="s" * 43,
        user=owner,
        session_key_hash="h" * 64,
        provider="microsoft",
        flow=flow,
        expires_at="2030-01-01T00:00:00Z",
    )
    assert "verifier" not in raw_column("oauth_states", "flow", state.pk)
    assert OAuthState.objects.get(pk=state.pk).flow == flow


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no keys"),
        ("nocolon", "no `id:` prefix"),
        ("bad id:" + generate_key(), "key id"),
        ("k:!!notbase64!!", "not valid base64"),
        ("k:" + base64.b64encode(b"short").decode(), "AES-256 needs 32"),
        (f"k:{generate_key()},k:{generate_key()}", "appears twice"),
    ],
    # Named, not by their random keys: every xdist worker must collect the same test ids.
    ids=["empty", "no id", "bad id", "not base64", "short key", "id twice"],
)
def test_it_rejects_malformed_key_lists(spec, message):
    with pytest.raises(KeyringError, match=message):
        Keyring.parse(spec)


def test_it_keeps_key_ids_independent_of_their_position():
    first, second = generate_key(), generate_key()
    sealed = Keyring.parse(f"a:{first},b:{second}").encrypt("secret", "t.c")
    assert Keyring.parse(f"b:{second},a:{first}").decrypt(sealed, "t.c") == "secret"


def test_dumpdata_leaves_secrets_out(owner):
    from io import StringIO

    from django.core.management import call_command

    make_account(owner, access_token=TOKEN, refresh_token="1//refresh-secret")
    out = StringIO()
    call_command("dumpdata", "connections.provideraccount", stdout=out)
    dumped = out.getvalue()
    assert '"external_id"' in dumped
    assert TOKEN not in dumped
    assert "refresh-secret" not in dumped
    assert "access_token" not in dumped
