"""A loopback fake of Google's OAuth 2.0 token revocation endpoint, following its documented behaviour.

POST /revoke with a form-encoded `token`: 200 and an empty JSON body when the token was valid (the grant
is withdrawn); 400 {"error": "invalid_token"} when it is unknown, expired or already revoked. Faults can
be queued to exercise retries: a status code (429 or 5xx) and an optional Retry-After.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs


@dataclass
class GoogleState:
    valid_tokens: set[str] = field(default_factory=set)
    revoked: list[str] = field(default_factory=list)
    faults: deque[tuple[int, str | None]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)


def handler_for(state: GoogleState) -> type[BaseHTTPRequestHandler]:
    class GoogleHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/revoke":
                self._reply(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            token = parse_qs(self.rfile.read(length).decode()).get("token", [""])[0]
            with state.lock:
                if state.faults:
                    status, retry_after = state.faults.popleft()
                    self._reply(status, {"error": "backend_error"}, retry_after)
                    return
                if token in state.valid_tokens:
                    state.valid_tokens.discard(token)
                    state.revoked.append(token)
                    self._reply(200, {})
                else:
                    self._reply(400, {"error": "invalid_token", "error_description": "Token expired or revoked"})

        def _reply(self, status: int, body: dict[str, str], retry_after: str | None = None) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            if retry_after:
                self.send_header("Retry-After", retry_after)
            self.end_headers()
            self.wfile.write(payload)

    return GoogleHandler
