"""Helpers for driving allauth's real pages in tests: reading links and codes from the outbox, TOTP codes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
import time
from typing import Any

from django.core import mail
from django.test import Client


def link_in_last_email(path_prefix: str) -> str:
    """The path of the first link in the newest email that starts with `path_prefix`."""
    body = str(mail.outbox[-1].body)
    match = re.search(rf"https?://[^/\s]+({re.escape(path_prefix)}\S*)", body)
    assert match, f"no {path_prefix} link in: {body}"
    return match.group(1)


# allauth's user codes: two groups of four from RFC 8628's unambiguous letters.
EMAILED_CODE = re.compile(r"^\s*([BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4})\s*$", re.MULTILINE)


def code_in_last_email(to: str | None = None) -> str:
    """The verification code in the newest email (to `to`, when given)."""
    messages = [message for message in mail.outbox if to is None or to in message.to]
    assert messages, f"no email to {to}"
    body = str(messages[-1].body)
    match = EMAILED_CODE.search(body)
    assert match, f"no code in: {body}"
    return match.group(1)


def enter_emailed_code(client: Client, to: str | None = None) -> Any:
    """Type the code allauth emailed into the page that asks for it (the browser that asked for it)."""
    return client.post("/accounts/confirm-email/", {"code": code_in_last_email(to)})


def totp_code(secret: str, at: float | None = None) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), written independently of allauth so it checks allauth's side."""
    counter = int((at if at is not None else time.time()) // 30)
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"
