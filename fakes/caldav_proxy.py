"""A loopback HTTPS proxy in front of the real Radicale, for what a CalDAV server (or the network on the way to
it) does and Radicale will not do on cue. Every request it is not told to spoil goes to Radicale unchanged and
Radicale's answer comes back unchanged, so the client still talks to a real server.

- `faults` (status, Retry-After): the next request is answered with that status and a short text body, as
  iCloud answers 503 with Retry-After when it sheds load, or a fronting proxy 429/500.
- `stalled_replies`: the next requests get no answer for `stall_seconds`, then the connection closes (a
  client with a shorter timeout gives up first; the lock is let go meanwhile, so its retry is answered).
- `reset_replies`: the next answers break off halfway through their body with a connection reset;
  `cut_replies` likewise, with the connection closed in good order (the body ends early).
- `malformed` (resource path -> text): that resource's calendar data is served as the text given, in
  calendar-multiget and GET answers, as a server serves what another client stored (iCloud and many others
  store a PUT body without checking that it parses; Radicale refuses such a PUT, hence this proxy).
- `empty`: the calendar lists as empty, as a server that lost or never migrated its data does: a
  sync-collection REPORT with a token is refused as RFC 6578 3.2 says for a token the server no longer
  knows (403 with DAV:valid-sync-token), one without a token names no member.
- `on_request` is called with (method, path) as each request arrives, before it is answered, to act at an
  exact point of a client's conversation (as the Google fake's).

Radicale is asked for uncompressed answers (the proxy drops Accept-Encoding), so the ones it spoils can be
read and rewritten.
"""

from __future__ import annotations

import http.client
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote, urlsplit

from lxml import etree

from fakes.base import FakeHandler, break_off_midway, raw_answer

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
# Hop-by-hop headers (RFC 9110 7.6.1) and those the proxy sets itself.
NOT_FORWARDED = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "host", "content-length"}
NOT_RETURNED = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}
METHODS = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR", "MKCOL")
EMPTY_SYNC_TOKEN = "http://radicale.org/ns/sync/" + "0" * 64


@dataclass
class ProxyState:
    upstream: str  # Radicale's https://127.0.0.1:PORT/
    ca_bundle: str  # the authority Radicale's certificate comes from
    base_url: str = ""  # the proxy's own https://127.0.0.1:PORT, set by whoever serves it
    faults: deque[tuple[int, str | None]] = field(default_factory=deque)
    stalled_replies: int = 0
    stall_seconds: float = 2.0
    reset_replies: int = 0
    cut_replies: int = 0
    malformed: dict[str, str] = field(default_factory=dict)
    empty: bool = False
    on_request: Callable[[str, str], None] | None = None
    request_log: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def url_for(self, upstream_url: str) -> str:
        """The proxy's URL for a URL of Radicale's (same path)."""
        parts = urlsplit(upstream_url)
        return self.base_url.rstrip("/") + (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def parse_xml(data: bytes) -> Any:
    """What Radicale or the client sent, read without entities or network access (a parser per call: lxml's
    parsers are not to be shared between threads)."""
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def handler_for(state: ProxyState) -> type[BaseHTTPRequestHandler]:
    class CalDAVProxyHandler(FakeHandler):
        def __getattr__(self, name: str) -> Callable[[], None]:
            # do_GET, do_PROPFIND, ...: every method the client uses is passed on the same way.
            method = name.removeprefix("do_")
            if name.startswith("do_") and method in METHODS:
                return lambda: self._dispatch(method)
            raise AttributeError(name)

        def _dispatch(self, method: str) -> None:
            path = urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            with state.lock:
                state.request_log.append((method, path))
                if state.on_request is not None:
                    state.on_request(method, path)
                if state.faults:
                    status, retry_after = state.faults.popleft()
                    headers = {"Retry-After": retry_after} if retry_after else {}
                    return self._send(status, headers, f"{status} {http.client.responses.get(status, '')}\n".encode())
                if state.stalled_replies:
                    state.stalled_replies -= 1
                    # The wait lets go of the lock (held once, here), so the client's retry is answered meanwhile.
                    state.lock.release()
                    try:
                        time.sleep(state.stall_seconds)
                    finally:
                        state.lock.acquire()
                    self.close_connection = True
                    return None
                if state.empty and method == "REPORT" and b"sync-collection" in body:
                    return self._empty_sync(body)
                status, headers, answer = self._forward(method, body)
                answer = self._spoiled(method, path, answer)
                if state.reset_replies or state.cut_replies:
                    reset = state.reset_replies > 0
                    if reset:
                        state.reset_replies -= 1
                    else:
                        state.cut_replies -= 1
                    whole = raw_answer(self, lambda: self._send(status, headers, answer))
                    return break_off_midway(self, whole, reset=reset)
                self._send(status, headers, answer)
            return None

        def _forward(self, method: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
            target = urlsplit(state.upstream)
            context = ssl.create_default_context(cafile=state.ca_bundle)
            connection = http.client.HTTPSConnection(target.hostname or "", target.port, context=context, timeout=30)
            headers = {name: value for name, value in self.headers.items() if name.lower() not in NOT_FORWARDED}
            headers.pop("Accept-Encoding", None)  # plain answers, so they can be read and rewritten
            try:
                connection.request(method, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                answer = response.read()
                kept = {name: value for name, value in response.getheaders() if name.lower() not in NOT_RETURNED}
                return response.status, kept, answer
            finally:
                connection.close()

        def _spoiled(self, method: str, path: str, answer: bytes) -> bytes:
            """The answer with the calendar data of the resources in `malformed` replaced."""
            if not state.malformed:
                return answer
            if method == "GET" and path in state.malformed:
                return state.malformed[path].encode()
            if method != "REPORT" or not any(spoilt.encode() in answer for spoilt in state.malformed):
                return answer
            tree = parse_xml(answer)
            for response in tree.iter(f"{{{DAV}}}response"):
                href = unquote(urlsplit((response.findtext(f"{{{DAV}}}href") or "").strip()).path)
                if href in state.malformed:
                    for data in response.iter(f"{{{CALDAV}}}calendar-data"):
                        data.text = state.malformed[href]
            return bytes(etree.tostring(tree, encoding="utf-8", xml_declaration=True))

        def _empty_sync(self, body: bytes) -> None:
            token = parse_xml(body).findtext(f"{{{DAV}}}sync-token") or ""
            if token.strip():
                error = f'<?xml version="1.0" encoding="utf-8"?>\n<error xmlns="{DAV}"><valid-sync-token/></error>'
                return self._send(403, {"Content-Type": "text/xml; charset=utf-8"}, error.encode())
            listing = (
                f'<?xml version="1.0" encoding="utf-8"?>\n<multistatus xmlns="{DAV}">'
                f"<sync-token>{EMPTY_SYNC_TOKEN}</sync-token></multistatus>"
            )
            return self._send(207, {"Content-Type": "text/xml; charset=utf-8"}, listing.encode())

        def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return CalDAVProxyHandler
