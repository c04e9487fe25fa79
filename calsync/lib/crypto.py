"""AES-256-GCM encryption of secrets at rest, with key ids so keys can rotate.

A ciphertext is text: ``v1.<key id>.<base64url(nonce || ciphertext || tag)>``. The key id names the key
that wrote it, so adding a key never changes what existing ids mean (ids do not depend on list order).
The associated data binds a ciphertext to where it belongs (``table.column``) and to its own header, so a
value copied into another column or relabelled with another key id fails to decrypt.

This module reads no Django settings at import time: settings.py imports it to validate ENCRYPTION_KEYS.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"
NONCE_BYTES = 12  # the GCM standard nonce size; random per value, so 2**32 values per key stay safe
KEY_BYTES = 32  # AES-256
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

# Used only when DEBUG is on and ENCRYPTION_KEYS is unset (`make run`); public, so it protects nothing.
DEV_ENCRYPTION_KEYS = "dev:" + base64.b64encode(b"calsync-development-key-not-safe").decode()


class KeyringError(ValueError):
    """ENCRYPTION_KEYS cannot be parsed."""


class DecryptionError(Exception):
    """A stored value cannot be decrypted: unknown key id, wrong place, or tampered bytes."""


def generate_key() -> str:
    """A new random key, base64-encoded, for an ENCRYPTION_KEYS entry."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: dict[str, bytes]

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse ``id:base64key,id:base64key``; the first entry is the current (encrypting) key."""
        keys: dict[str, bytes] = {}
        entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
        if not entries:
            raise KeyringError("no keys given; expected `id:base64key[,id:base64key...]`")
        for position, entry in enumerate(entries, start=1):
            key_id, sep, encoded = entry.partition(":")
            if not sep:
                raise KeyringError(f"entry {position} has no `id:` prefix")
            if not KEY_ID_PATTERN.match(key_id):
                raise KeyringError(f"entry {position}: key id {key_id!r} must be 1-32 of A-Z a-z 0-9 _ -")
            if key_id in keys:
                raise KeyringError(f"key id {key_id!r} appears twice")
            try:
                key = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"key {key_id!r} is not valid base64") from None
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
            keys[key_id] = key
        return cls(current_id=next(iter(keys)), keys=keys)

    def holds_any_of(self, spec: str) -> bool:
        """Whether this keyring contains any key material of `spec` (e.g. the public development key)."""
        return bool(set(self.keys.values()) & set(Keyring.parse(spec).keys.values()))

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.keys[self.current_id]).encrypt(
            nonce, plaintext.encode(), _associated_data(self.current_id, context)
        )
        payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{FORMAT_VERSION}.{self.current_id}.{payload}"

    def decrypt(self, token: str, context: str) -> str:
        key_id, payload = _split(token)
        key = self.keys.get(key_id)
        if key is None:
            raise DecryptionError(f"value was encrypted with key {key_id!r}, which ENCRYPTION_KEYS no longer holds")
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
            return AESGCM(key).decrypt(nonce, sealed, _associated_data(key_id, context)).decode()
        except (InvalidTag, binascii.Error, ValueError):
            raise DecryptionError(f"value in {context} failed authentication (tampered or misplaced)") from None


def key_id_of(token: str) -> str:
    """The id of the key a ciphertext was written with (for rotation)."""
    return _split(token)[0]


def _split(token: str) -> tuple[str, str]:
    version, _, rest = token.partition(".")
    key_id, _, payload = rest.partition(".")
    if version != FORMAT_VERSION or not key_id or not payload:
        raise DecryptionError("value is not a calsync ciphertext")
    return key_id, payload


def _associated_data(key_id: str, context: str) -> bytes:
    return f"calsync|{FORMAT_VERSION}|{key_id}|{context}".encode()


@functools.lru_cache(maxsize=4)
def keyring_for(spec: str) -> Keyring:
    return Keyring.parse(spec)


def current_keyring() -> Keyring:
    """The keyring from settings; cached per value so tests can override ENCRYPTION_KEYS."""
    from django.conf import settings

    return keyring_for(settings.ENCRYPTION_KEYS)
