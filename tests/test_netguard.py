"""The outbound guard for person-supplied CalDAV servers: HTTPS only, never into our own network."""

from __future__ import annotations

import re
from http.server import BaseHTTPRequestHandler

import pytest
import requests

from connections.providers.netguard import UnsafeURL, address_allowed, guarded_session, url_check
from tests.fakes.server import serve


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
