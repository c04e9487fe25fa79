"""The outbound guard for person-supplied CalDAV servers: HTTPS only, never into our own network.

Everything here runs on loopback. 127.0.0.1 plays a public server (allowed through CALDAV_PRIVATE_NETWORKS)
and 127.0.0.2 an internal one; names under `.test` are answered by a resolver the test scripts (patched
`socket.getaddrinfo`: the operating system's resolver, not our code), which refuses every other name, so
no query leaves the machine.
"""

from __future__ import annotations

import re
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import trustme

from connections.providers.caldav import CalDAVAdapter
from connections.providers.netguard import UnsafeURL, address_allowed, guarded_session, url_check
from fakes.server import serve


@pytest.fixture(autouse=True)
def _strict(settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = False
    settings.CALDAV_PRIVATE_NETWORKS = []


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # the cloud metadata service
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",  # noqa: S104 (an address under test, not a bind)
        "::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "fe80::1%eth0",
        "fd00:ec2::254",  # AWS's IPv6 metadata address (unique local)
        "224.0.0.1",
        "192.0.0.192",  # Oracle Cloud's metadata service
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::a00:1",  # local-use NAT64 of 10.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, whose client is 10.0.0.1
        "::169.254.169.254",  # IPv4-compatible
    ],
)
def test_internal_addresses_are_refused(address):
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["17.253.144.10", "2620:149:af0::10", "64:ff9b::1111:1111"])
def test_public_addresses_are_allowed(address):
    assert address_allowed(address)


def test_the_settings_open_private_addresses_all_or_by_network(settings):
    settings.CALDAV_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    assert address_allowed("127.0.0.1")
    assert not address_allowed("127.0.0.2")
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True
    assert address_allowed("127.0.0.2")
    assert address_allowed("169.254.169.254")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://caldav.example.com/", "https://"),
        ("caldav.example.com", "https://"),
        ("https://", "full address"),
        ("https://me:secret@caldav.example.com/", "own fields"),
        ("https://localhost/", "private or internal"),
        ("https://127.0.0.1:5232/", "private or internal"),
        ("https://[::1]/", "private or internal"),
        ("https://169.254.169.254/latest/meta-data/", "private or internal"),
    ],
)
def test_url_check_refuses_with_a_message_for_the_person(url, message):
    with pytest.raises(UnsafeURL, match=message):
        url_check(url)


class Redirect(BaseHTTPRequestHandler):
    target = ""

    def log_message(self, format, *args):
        return

    def do_GET(self):
        if self.path == "/ok":
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        self.send_response(302)
        self.send_header("Location", type(self).target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_PROPFIND = do_GET  # caldav's first request


def test_the_connection_itself_is_checked_so_no_pre_check_can_be_skipped():
    with serve(Redirect, tls=True) as base, pytest.raises(UnsafeURL, match="private or internal"):
        guarded_session().get(f"{base}/ok", timeout=5)


def test_redirects_into_a_private_address_are_refused(settings):
    # Only 127.0.0.1 is allowed; the server there redirects to 127.0.0.2, which is not.
    settings.CALDAV_PRIVATE_NETWORKS = ["127.0.0.1/32"]
    with serve(Redirect, tls=True, host="127.0.0.2") as inner:

        class ToInner(Redirect):
            target = f"{inner}/ok"

        with serve(ToInner, tls=True) as outer:
            assert guarded_session().get(f"{outer}/ok", timeout=5).text == "ok"  # allowed itself
            with pytest.raises(UnsafeURL, match=re.escape("127.0.0.2")):
                guarded_session().get(f"{outer}/start", timeout=5)


def test_redirects_to_plain_http_are_refused(settings):
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True

    class ToPlain(Redirect):
        target = "http://127.0.0.1:9/"

    with serve(ToPlain, tls=True) as base, pytest.raises(UnsafeURL, match="unencrypted"):
        guarded_session().get(f"{base}/start", timeout=5)


def test_the_environment_cannot_route_or_authenticate_requests(monkeypatch, tmp_path):
    # An egress proxy would make the proxy the peer; a ~/.netrc would hand its passwords to any host.
    netrc = tmp_path / "netrc"
    netrc.write_text("default login someone password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    session = guarded_session()
    assert session.trust_env is False
    url = "https://dav.example.org/"
    prepared = session.prepare_request(requests.Request("GET", url))
    settings_used = session.merge_environment_settings(url, {}, None, None, None)
    assert settings_used["proxies"] == {}
    assert "Authorization" not in prepared.headers


# -- resolve, check, then connect to the checked address ------------------------------------------------

PUBLIC = "127.0.0.1"  # allowed by the `public_loopback` fixture: it stands for a public server
INTERNAL = "127.0.0.2"  # refused: it stands for an address inside our network


@pytest.fixture
def public_loopback(settings):
    settings.CALDAV_PRIVATE_NETWORKS = [f"{PUBLIC}/32"]


class CountingListener:
    """A plain TCP socket listening on a refused address, counting the connections anyone made to it.

    The kernel completes a handshake without waiting for accept(), so every connection shows in the queue.
    """

    def __init__(self, host: str) -> None:
        self.host = host
        self.socket = socket.create_server((host, 0))
        self.socket.settimeout(5)
        self.port = self.socket.getsockname()[1]
        self.count = 0

    def connections_made(self) -> int:
        # Our own marker connection queues behind any made before it: accept up to the marker, no waiting.
        with socket.create_connection((self.host, self.port), timeout=5) as marker:
            while True:
                accepted, address = self.socket.accept()
                accepted.close()
                if address == marker.getsockname():
                    return self.count
                self.count += 1

    def close(self) -> None:
        self.socket.close()


@pytest.fixture
def internal_listener() -> Iterator[CountingListener]:
    listener = CountingListener(INTERNAL)
    yield listener
    listener.close()


def redirect_to(target: str) -> type[Redirect]:
    return type("RedirectTo", (Redirect,), {"target": target})


def refusal_message(url: str) -> str:
    """What a request to `url` ends with: the exception's type and message."""
    try:
        guarded_session().get(url, timeout=(1, 5))  # a filtered port would answer nothing for a second
    except (UnsafeURL, requests.RequestException) as exc:
        return f"{type(exc).__name__}: {exc}"
    pytest.fail(f"{url} was fetched")


def test_a_redirect_to_a_refused_address_never_opens_a_connection_there(public_loopback, internal_listener):
    target = f"https://{INTERNAL}:{internal_listener.port}/"
    refused = pytest.raises(UnsafeURL, match=f"{re.escape(INTERNAL)} is a private or internal address")
    with serve(redirect_to(target), tls=True) as public, refused:
        guarded_session().get(f"{public}/start", timeout=5)
    assert internal_listener.connections_made() == 0


def test_the_connect_form_s_verify_never_opens_a_connection_to_where_the_server_redirects(
    public_loopback, internal_listener
):
    # The caldav library's own requests (here its first PROPFIND) go through the same guard.
    target = f"https://{INTERNAL}:{internal_listener.port}/dav/"
    refused = pytest.raises(UnsafeURL, match=f"{re.escape(INTERNAL)} is a private or internal address")
    with serve(redirect_to(target), tls=True) as public, refused:
        CalDAVAdapter().verify(server_url=f"{public}/dav/", username="someone", password="secret")
    assert internal_listener.connections_made() == 0


def test_a_refused_address_gets_one_message_whether_its_port_is_open_closed_or_filtered(public_loopback):
    open_port = CountingListener(INTERNAL)
    closed_port = CountingListener(INTERNAL)
    closed_port.close()  # nothing listens there any more: a connection would be refused
    # A listener with a full queue drops new handshakes unanswered, as a firewall that filters does.
    filtered_port = socket.create_server((INTERNAL, 0), backlog=0)
    filler = socket.create_connection(filtered_port.getsockname(), timeout=5)
    try:
        messages = set()
        for port in (open_port.port, closed_port.port, filtered_port.getsockname()[1]):
            with serve(redirect_to(f"https://{INTERNAL}:{port}/"), tls=True) as public:
                messages.add(refusal_message(f"{public}/start"))
        assert len(messages) == 1, messages
        assert messages.pop().startswith(f"UnsafeURL: {INTERNAL} is a private or internal address.")
        assert open_port.connections_made() == 0
    finally:
        open_port.close()
        filler.close()
        filtered_port.close()


class ScriptedResolver:
    """Answers names under .test from a script of addresses (the last one repeats); refuses other names.

    Address literals still go to the real resolver, which answers them without a query.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, script: dict[str, list[str]]) -> None:
        self.script = script
        self.lookups: list[str] = []
        self.real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self.getaddrinfo)

    def getaddrinfo(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in self.script:
            answers = self.script[name]
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            self.lookups.append(address)
            info_family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(info_family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))]
        return self.real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)


def test_a_name_rebound_after_the_check_is_never_connected_to_at_its_new_address(
    monkeypatch, public_loopback, internal_listener
):
    # The form's check sees the public address; every later answer is the internal one.
    resolver = ScriptedResolver(monkeypatch, {"dav.calsync.test": [PUBLIC, INTERNAL]})
    url = f"https://dav.calsync.test:{internal_listener.port}/"
    assert url_check(url) == url
    with pytest.raises(UnsafeURL, match=r"dav\.calsync\.test is a private or internal address"):
        guarded_session().get(url, timeout=5)
    assert resolver.lookups == [PUBLIC, INTERNAL]
    assert internal_listener.connections_made() == 0


def test_a_connection_goes_to_the_address_it_checked_without_a_second_lookup(
    monkeypatch, public_loopback, internal_listener, named_server
):
    # The first answer is checked; a connection that looked the name up again would get the internal one.
    resolver = ScriptedResolver(monkeypatch, {"dav.calsync.test": [PUBLIC, INTERNAL]})
    session = guarded_session()
    session.verify = named_server.ca_bundle
    assert session.get(f"https://dav.calsync.test:{named_server.port}/ok", timeout=5).text == "ok"
    assert resolver.lookups == [PUBLIC]
    assert internal_listener.connections_made() == 0


def test_a_name_with_one_refused_address_among_allowed_ones_is_refused(monkeypatch, public_loopback, internal_listener):
    answers = [
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC, internal_listener.port)),
        (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (INTERNAL, internal_listener.port)),
    ]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    with pytest.raises(UnsafeURL, match=r"dav\.calsync\.test is a private or internal address"):
        guarded_session().get(f"https://dav.calsync.test:{internal_listener.port}/", timeout=5)
    assert internal_listener.connections_made() == 0


# -- TLS still checks the certificate against the name, not the address it connected to ----------------


class NamedServer:
    """A TLS server on 127.0.0.1 whose certificate names dav.calsync.test only (no address), from its own
    authority; it notes the server name (SNI) each handshake asked for."""

    def __init__(self, folder: Any) -> None:
        authority = trustme.CA(organization_name="calsync netguard tests")
        self.ca_bundle = str(folder / "named-ca.pem")
        authority.cert_pem.write_to_path(self.ca_bundle)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        authority.issue_cert("dav.calsync.test").configure_cert(context)
        self.server_names: list[str | None] = []
        context.sni_callback = lambda _socket, name, _context: self.server_names.append(name)
        self.server = ThreadingHTTPServer((PUBLIC, 0), Redirect)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def named_server(tmp_path) -> Iterator[NamedServer]:
    server = NamedServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def names_to_public(monkeypatch) -> ScriptedResolver:
    return ScriptedResolver(monkeypatch, {"dav.calsync.test": [PUBLIC], "other.calsync.test": [PUBLIC]})


def test_tls_verifies_the_certificate_for_the_host_name_and_sends_it_as_sni(
    public_loopback, named_server, names_to_public
):
    session = guarded_session()
    session.verify = named_server.ca_bundle
    assert session.get(f"https://dav.calsync.test:{named_server.port}/ok", timeout=5).text == "ok"
    assert named_server.server_names == ["dav.calsync.test"]


def test_tls_refuses_a_certificate_for_another_name_at_the_same_checked_address(
    public_loopback, named_server, names_to_public
):
    session = guarded_session()
    session.verify = named_server.ca_bundle
    with pytest.raises(requests.exceptions.SSLError, match="match"):
        session.get(f"https://other.calsync.test:{named_server.port}/ok", timeout=5)


def test_tls_refuses_a_certificate_from_an_authority_it_does_not_trust(public_loopback, named_server, names_to_public):
    with pytest.raises(requests.exceptions.SSLError, match="certificate verify failed"):
        guarded_session().get(f"https://dav.calsync.test:{named_server.port}/ok", timeout=5)


@contextmanager
def serve_on_ipv6_loopback() -> Iterator[str]:
    class IPv6Server(ThreadingHTTPServer):
        address_family = socket.AF_INET6

    from fakes.tls import test_ca

    server = IPv6Server(("::1", 0), Redirect)
    server.daemon_threads = True
    server.socket = test_ca().server_context().wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://[::1]:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_an_allowed_ipv6_address_is_connected_to(settings):
    settings.CALDAV_PRIVATE_NETWORKS = ["::1/128"]
    with serve_on_ipv6_loopback() as base:
        assert guarded_session().get(f"{base}/ok", timeout=5).text == "ok"


# -- redirects are followed a few times only ------------------------------------------------------------


def test_redirects_are_followed_a_few_times_only(public_loopback):
    requests_seen = []

    class Loop(Redirect):
        def do_GET(self):
            requests_seen.append(self.path)
            type(self).target = f"/hop{len(requests_seen)}"
            super().do_GET()

    session = guarded_session()
    with serve(Loop, tls=True) as base, pytest.raises(requests.exceptions.TooManyRedirects):
        session.get(f"{base}/start", timeout=5)
    assert session.max_redirects <= 10  # requests' own default is 30
    assert len(requests_seen) == session.max_redirects + 1
