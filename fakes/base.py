"""Plumbing the provider fakes share: a quiet request handler with JSON/form/redirect helpers, PKCE, JWT shapes.

Nothing here models a provider; each fake (google.py, microsoft.py) decides what its provider returns.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import secrets
import socket
import struct
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

RESET_AFTER_SECONDS = 0.2
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


def break_off_midway(handler: BaseHTTPRequestHandler, answer: bytes, *, reset: bool) -> None:
    """Send the status line, the headers and half the body of `answer` (a whole raw HTTP answer), then end
    the connection: with a reset (RST) once the client waits for the rest, or closed in good order (FIN)
    as a server or proxy that gives up on an answer does. What a client sees when a page breaks off."""
    head, _, body = answer.partition(b"\r\n\r\n")
    handler.wfile.write(head + b"\r\n\r\n" + body[: len(body) // 2])
    handler.wfile.flush()
    if reset:
        # A moment for the client to read that much and wait for more, so the reset meets a read in
        # progress (one that arrives first may be taken for the end of the stream instead).
        time.sleep(RESET_AFTER_SECONDS)
        # Linger 0 makes the close a reset rather than an orderly end.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    else:
        handler.connection.shutdown(socket.SHUT_WR)
    # The socket closes for real only once the files made from it are closed too.
    handler.rfile.close()
    handler.connection.close()
    handler.wfile = io.BytesIO()  # what the server still flushes after the handler goes nowhere
    handler.close_connection = True


def raw_answer(handler: BaseHTTPRequestHandler, answer: Callable[[], None]) -> bytes:
    """The bytes `answer()` would have written to the client (status line, headers, body), kept instead."""
    client, handler.wfile = handler.wfile, io.BytesIO()
    try:
        answer()
        handler.wfile.flush()
        written = handler.wfile.getvalue()
    finally:
        handler.wfile = client
    return bytes(written)


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
