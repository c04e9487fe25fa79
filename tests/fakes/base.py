"""Plumbing the provider fakes share: a quiet request handler with JSON/form/redirect helpers, PKCE, JWT shapes.

Nothing here models a provider; each fake (google.py, microsoft.py) decides what its provider returns.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

# One request as the fakes log it: method, path, query (last value of each parameter).
LoggedRequest = tuple[str, str, dict[str, str]]


def b64url(data: bytes) -> str:
    """Base64url without padding, as JWTs and PKCE use it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    """The PKCE S256 code challenge of `verifier` (RFC 7636 section 4.2)."""
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def jwt_shaped(claims: dict[str, Any], *, kid: str = "fake-key") -> str:
    """A JWT-shaped string (RS256 header, claims, random bytes for a signature).

    The client libraries only decode id_tokens they get straight from the token endpoint (OIDC Core 3.1.3.7
    lets them skip the signature), so nothing checks the signature.
    """
    header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), secrets.token_bytes(64)]
    return ".".join(b64url(part) for part in parts)


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT-shaped string, unverified (for assertions in tests)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def with_query(url: str, params: dict[str, str]) -> str:
    """`url` with `params` appended to its query string (redirect_uri may carry a query of its own)."""
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"


class FakeHandler(BaseHTTPRequestHandler):
    """A request handler with the helpers every fake endpoint needs; quiet, so test output stays readable."""

    def log_message(self, format: str, *args: object) -> None:
        return

    @property
    def route(self) -> str:
        return urlsplit(self.path).path

    def query(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(urlsplit(self.path).query).items()}

    def form(self) -> dict[str, str]:
        """The form-encoded body (read once per request)."""
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode() if length else ""
        return {key: values[-1] for key, values in parse_qs(body, keep_blank_values=True).items()}

    def basic_credentials(self) -> tuple[str, str] | None:
        """Client id and secret from HTTP Basic; RFC 6749 2.3.1 has each form-urlencoded first."""
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return unquote_plus(user), unquote_plus(password)

    def bearer_token(self) -> str | None:
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        return value.strip() or None

    def reply_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        self._reply(status, json.dumps(body).encode(), "application/json; charset=utf-8", headers)

    def reply_text(self, status: int, text: str) -> None:
        self._reply(status, text.encode(), "text/html; charset=utf-8", None)

    def redirect(self, location: str) -> None:
        self._reply(302, b"", "text/html; charset=utf-8", {"Location": location})

    def _reply(self, status: int, payload: bytes, content_type: str, headers: dict[str, str] | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
