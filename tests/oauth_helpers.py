"""Walk a person through an OAuth connect against the loopback fakes, with the Django test client."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests
from django.test import Client
from django.urls import reverse


def start(browser: Client, provider: str) -> str:
    """Press "Connect": returns the provider's authorize URL we were sent to."""
    response = browser.post(reverse("connections_start", args=[provider]))
    assert response.status_code == 302, response.content[:500]
    return str(response["Location"])


def consent(authorize_url: str) -> str:
    """The person consents at the provider, which sends them back: returns our callback path and query."""
    answer = requests.get(authorize_url, allow_redirects=False, timeout=10)
    assert answer.status_code in {302, 303}, answer.text[:500]
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def connect(browser: Client, provider: str):
    """The whole round trip; returns the callback's response."""
    return browser.get(consent(start(browser, provider)))
