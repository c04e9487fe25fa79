"""Outbound requests to servers a person named: HTTPS only, and never into our own network.

A CalDAV server URL is user input that our workers will fetch, which makes it a server-side request
forgery vector: `https://169.254.169.254/` (cloud metadata), `https://localhost:6379/` or a private
address behind the firewall. The check happens where it cannot be dodged, in the connection itself, before
any packet is sent: each new connection (the first request and every redirect) resolves its host once,
checks every address, and connects to a checked address itself, so urllib3 never resolves the name again and
a DNS answer that changes after the check (rebinding) cannot move the socket. TLS still verifies the
certificate for, and sends SNI with, the host name. Nothing is connected before the verdict, so a refused
address gets one message whether its port is open, closed or filtered, and cannot be used to scan ports.
`url_check` runs the same policy early, for a clear message on the form.

Settings: CALDAV_ALLOW_PRIVATE_HOSTS allows every address (tests and the local demo run CalDAV on
loopback); CALDAV_PRIVATE_NETWORKS allows chosen networks only (an internal CalDAV server).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPSConnection
from urllib3.connectionpool import HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import HAS_IPV6
from urllib3.util.timeout import _DEFAULT_TIMEOUT

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# One getaddrinfo answer: (family, type, proto, canonname, sockaddr).
AddressInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]

# A CalDAV server may send /.well-known/caldav to its root and the root on to a home; requests' default of
# 30 hops is a long walk through addresses a stranger picks.
MAX_REDIRECTS = 5


class UnsafeURL(ValueError):
    """The URL or the address it leads to is not one we will fetch. The message is for the person."""


class UnresolvableHost(UnsafeURL):
    """The host name did not resolve: maybe a typo, maybe a passing DNS failure."""


# IPv6 ranges that carry an IPv4 address inside them (NAT64, well-known and local-use), which a
# translator may turn into a connection to that IPv4 address: judge them by the address they carry.
NAT64_PREFIXES = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
# Oracle Cloud's metadata service, and the rest of the IETF protocol assignments block.
ALWAYS_REFUSED = (ipaddress.ip_network("192.0.0.0/24"),)


def address_allowed(address: str) -> bool:
    ip = _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))  # (drop an IPv6 zone id)
    if settings.CALDAV_ALLOW_PRIVATE_HOSTS:
        return True
    if any(ip in network for network in _private_networks()):
        return True
    # is_global is False for loopback, private, link-local (169.254.169.254, the metadata service),
    # carrier-grade NAT, unspecified, reserved and documentation ranges.
    return ip.is_global and not ip.is_multicast and not any(ip in network for network in ALWAYS_REFUSED)


def _embedded_ipv4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, Teredo, NAT64), else itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1
        return ip.ipv4_mapped
    if ip.sixtofour is not None:  # 2002:a00:1::1 is 10.0.0.1
        return ip.sixtofour
    if ip.teredo is not None:  # (server, client): the client is where traffic ends up
        return ip.teredo[1]
    packed = ip.packed
    if any(ip in network for network in NAT64_PREFIXES) or (packed[:12] == bytes(12) and int(ip) > 1):
        return ipaddress.IPv4Address(packed[12:])  # 64:ff9b::a9fe:a9fe, ::169.254.169.254
    return ip


def url_check(url: str) -> str:
    """The URL, if it is https and every address its host resolves to is allowed; else UnsafeURL."""
    parts = urlsplit(url.strip())
    if parts.scheme != "https":
        raise UnsafeURL("Use an https:// address: calsync never sends your password over an unencrypted connection.")
    if not parts.hostname:
        raise UnsafeURL("Enter the server's full address, like https://caldav.example.com/.")
    if parts.username or parts.password:
        raise UnsafeURL("Put the user name and password in their own fields, not in the address.")
    try:
        checked_addresses(parts.hostname, parts.port or 443)
    except UnsafeURL:
        raise  # (a ValueError too, but a verdict, not a failed lookup)
    except (OSError, ValueError):
        raise UnresolvableHost(f"We could not find the server {parts.hostname}. Check the address.") from None
    return url.strip()


def checked_addresses(host: str, port: int) -> list[AddressInfo]:
    """Every address `host` resolves to, resolved once; UnsafeURL if any of them is refused.

    All of them, not only the one a connection would try first: which one that is is the resolver's choice.
    Resolution failures are the resolver's own exceptions (socket.gaierror).
    """
    answers = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    if any(not address_allowed(str(sockaddr[0])) for *_, sockaddr in answers):
        raise UnsafeURL(_refusal(host))
    return answers


def guarded_session() -> requests.Session:
    """A requests session that connects only over HTTPS, only to allowed addresses, redirects included."""
    session = requests.Session()
    # Nothing from the environment: no proxy (the peer would be the proxy, not the server) and no
    # ~/.netrc credentials handed to a host the person chose. Only the CA bundle is honoured.
    session.trust_env = False
    session.verify = ca_bundle()
    session.max_redirects = MAX_REDIRECTS
    session.mount("https://", _GuardedAdapter())
    session.mount("http://", _RefusePlainHTTP())
    return session


def ca_bundle() -> str | bool:
    """The CA bundle the operator named (requests' own variables), else the default one."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _refusal(host: str) -> str:
    return (
        f"{host} is a private or internal address. calsync only connects to servers on the public "
        "internet; ask your administrator if your calendar server is internal."
    )


def _private_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(value, strict=False) for value in settings.CALDAV_PRIVATE_NETWORKS]


class _GuardedHTTPSConnection(HTTPSConnection):
    """Connects only to addresses it has checked; TLS then runs against `self.host`, the name."""

    def _new_conn(self) -> socket.socket:
        try:
            answers = checked_addresses(self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        try:
            sock = self._connect_to_one_of(answers)
        except TimeoutError as exc:
            message = f"Connection to {self.host} timed out. (connect timeout={self.timeout})"
            raise ConnectTimeoutError(self, message) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def _connect_to_one_of(self, answers: list[AddressInfo]) -> socket.socket:
        """urllib3's create_connection, but to the checked socket addresses: no second lookup."""
        error: OSError = OSError(f"{self.host} has no address to connect to")
        for family, kind, proto, _, sockaddr in answers:
            if family == socket.AF_INET6 and not HAS_IPV6:
                continue
            sock = socket.socket(family, kind, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return sock
        raise error


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"https": _GuardedHTTPSConnectionPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # Through a proxy the peer is the proxy, so the address check would mean nothing.
        raise UnsafeURL("calsync does not fetch CalDAV servers through a proxy.")


class _RefusePlainHTTP(HTTPAdapter):
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        raise UnsafeURL("The server redirected to an unencrypted http:// address; calsync refuses to follow.")
