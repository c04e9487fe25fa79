"""Helpers for driving allauth's real pages in tests: reading links from the outbox, TOTP codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time

from django.core import mail


def link_in_last_email(path_prefix: str) -> str:
    """The path of the first link in the newest email that starts with `path_prefix`."""
    body = str(mail.outbox[-1].body)
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}\S*)", body)
    assert match, f"no {path_prefix} link in: {body}"
    return match.group(1)


def totp_code(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), written independently of allauth so it checks allauth's side."""
    counter = int((at if at is not None else time.time()) // 30)
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"
