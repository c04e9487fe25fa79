"""Model fields that keep secrets encrypted at rest (see calsync.lib.crypto)."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from calsync.lib.crypto import current_keyring


class EncryptedTextField(models.TextField):
    """Text encrypted with AES-256-GCM under the current key; decrypted on load.

    Each save writes a fresh nonce under the newest key, so re-saving a row rotates it. The ciphertext is
    bound to ``table.column``. Values cannot be searched: only ``isnull`` lookups are allowed. Loading a
    value that does not decrypt raises DecryptionError; pages that only list rows should defer these
    fields, so one bad value cannot take a whole list down.
    """

    description = "Text encrypted at rest (AES-256-GCM)"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Left out of dumpdata/serializers: a fixture or JSON backup would otherwise hold the plaintext.
        kwargs["serialize"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("serialize", None)
        return name, path, args, kwargs

    def encryption_context(self) -> str:
        return f"{self.model._meta.db_table}.{self.column}"

    def to_plaintext(self, value: Any) -> str:
        return str(value)

    def from_plaintext(self, text: str) -> Any:
        return text

    def get_prep_value(self, value: Any) -> Any:
        if value is None:
            return None
        return current_keyring().encrypt(self.to_plaintext(value), self.encryption_context())

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None:
            return None
        return self.from_plaintext(current_keyring().decrypt(value, self.encryption_context()))

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name != "isnull":
            return None  # comparing random-nonce ciphertexts would silently match nothing
        return super().get_lookup(lookup_name)


class EncryptedJSONField(EncryptedTextField):
    """A JSON document (dict or list) encrypted as a whole, e.g. an OAuth library's flow state."""

    description = "JSON encrypted at rest (AES-256-GCM)"
    # What django-stubs lets callers assign and read: any JSON value, not only text.
    _pyi_private_set_type: Any
    _pyi_private_get_type: Any

    def to_plaintext(self, value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), sort_keys=True)

    def from_plaintext(self, text: str) -> Any:
        return json.loads(text)

    def to_python(self, value: Any) -> Any:
        return value
