"""Network failures are told in words a person can act on, with the client's exception name for staff. Each
failure is a real one, made on loopback; the timeouts and broken-off answers are in test_faults."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from connections.providers.http import network_failure


class Redirects(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "/again")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def redirecting_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirects)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def failure_of(url: str) -> str:
    with pytest.raises(requests.RequestException) as raised:
        requests.get(url, timeout=5)
    return network_failure(raised.value)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_a_refused_connection_says_it_could_not_connect():
    assert failure_of(f"http://127.0.0.1:{closed_port()}/") == "could not connect (ConnectionError)"


def test_a_redirect_loop_says_so(redirecting_server):
    assert failure_of(f"http://{redirecting_server}/") == "the server redirected too many times (TooManyRedirects)"


def test_tls_spoken_to_a_plain_server_says_the_secure_connection_failed(redirecting_server):
    assert failure_of(f"https://{redirecting_server}/") == (
        "the secure connection failed (a certificate or TLS problem) (SSLError)"
    )


def test_the_timeout_named_is_the_configured_one(settings):
    settings.PROVIDER_TIMEOUT_SECONDS = 7
    assert network_failure(requests.ReadTimeout()) == "no answer within 7 s (ReadTimeout)"
    assert network_failure(requests.ConnectTimeout()) == "could not connect within 7 s (ConnectTimeout)"


def test_an_unknown_failure_is_still_named():
    assert network_failure(OSError("odd")) == "a network error (OSError)"
