"""One test certificate authority for every loopback server that speaks HTTPS.

Google, Microsoft and iCloud are HTTPS-only, and calsync refuses plain-http CalDAV servers, so the fakes
and Radicale serve TLS with certificates from this authority. `trust_test_ca()` points the client
libraries at it through their standard variables: requests (msal, google-auth, caldav) reads
REQUESTS_CA_BUNDLE and httplib2 (google-api-python-client) reads HTTPLIB2_CA_CERTS. Nothing else is
trusted, so nothing can quietly reach beyond loopback.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import trustme

LOOPBACK_NAMES = ("127.0.0.1", "127.0.0.2", "localhost", "::1")


@dataclass(frozen=True)
class TestCA:
    ca_bundle: Path
    cert_chain: Path  # server certificate and chain, PEM
    private_key: Path  # server key, PEM

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_chain, self.private_key)
        return context


@cache
def test_ca() -> TestCA:
    """The run's authority and one loopback server certificate, written to a private folder."""
    folder = Path(tempfile.mkdtemp(prefix="calsync-test-ca-"))
    ca = trustme.CA(organization_name="calsync tests")
    server = ca.issue_cert(*LOOPBACK_NAMES)
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    server.private_key_pem.write_to_path(str(folder / "server.key"))
    with open(folder / "server.pem", "wb") as chain:
        for blob in server.cert_chain_pems:
            chain.write(blob.bytes())
    return TestCA(folder / "ca.pem", folder / "server.pem", folder / "server.key")


def trust_test_ca() -> TestCA:
    """Make this process (and the processes it starts) trust the test authority, and only it."""
    authority = test_ca()
    os.environ["REQUESTS_CA_BUNDLE"] = str(authority.ca_bundle)
    os.environ["HTTPLIB2_CA_CERTS"] = str(authority.ca_bundle)
    os.environ["SSL_CERT_FILE"] = str(authority.ca_bundle)
    return authority
