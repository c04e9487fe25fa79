"""Small parsers for values every provider sends in its own shape."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def hex_color_or_blank(value: object) -> str:
    """'#rrggbb' in lower case, or blank for anything else (CalDAV adds alpha: '#rrggbbaa')."""
    text = str(value or "").strip()
    if len(text) == 9 and HEX_COLOR.match(text[:7]):
        text = text[:7]
    return text.lower() if HEX_COLOR.match(text) else ""


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT received directly from a token endpoint over TLS.

    No signature check: OpenID Connect Core 3.1.3.7 lets a client rely on TLS for an ID token it got
    from the token endpoint itself. Callers still check the audience and, where one was sent, the nonce.
    """
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
