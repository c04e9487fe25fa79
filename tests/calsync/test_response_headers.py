"""Headers every response carries: what a browser may cache, and which powerful features pages may use."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.cache import get_max_age

from calsync.middleware import PERMISSIONS_POLICY

SIGNED_IN_PAGES = ["home", "connections", "account_settings", "account_devices", "account_email"]


def directives(response) -> set[str]:
    return {part.strip() for part in response.get("Cache-Control", "").split(",") if part.strip()}


@pytest.mark.parametrize("name", SIGNED_IN_PAGES)
def test_signed_in_pages_are_never_stored_by_a_browser_or_a_proxy(owner_client, name):
    response = owner_client.get(reverse(name))
    assert response.status_code == 200
    assert {"private", "no-store"} <= directives(response)
    assert get_max_age(response) in (None, 0)


def test_a_signed_in_persons_admin_pages_and_errors_are_not_stored_either(client, staff):
    client.force_login(staff)
    assert {"private", "no-store"} <= directives(client.get(reverse("admin:index")))
    assert {"private", "no-store"} <= directives(client.get("/no/such/page/"))


def test_pages_for_visitors_keep_their_own_caching(client, db):
    response = client.get(reverse("home"))
    assert "no-store" not in directives(response)  # nothing personal: the landing page may be cached
    assert "no-cache" in directives(client.get("/healthz"))  # a view's own header is kept


def test_signing_out_answers_without_the_private_marker_but_the_next_page_is_anonymous(owner_client):
    response = owner_client.post(reverse("account_logout"))
    assert response.status_code == 302
    assert "no-store" not in directives(owner_client.get(reverse("home")))


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_refuses_powerful_browser_features(client, owner, signed_in):
    if signed_in:
        client.force_login(owner)
    for path in (reverse("home"), reverse("account_login"), "/admin/login/", "/no/such/page/"):
        policy = client.get(path)["Permissions-Policy"]
        assert policy == PERMISSIONS_POLICY
        features = dict(part.strip().split("=", 1) for part in policy.split(","))
        assert {"camera", "microphone", "geolocation", "payment", "usb"} <= set(features)
        assert set(features.values()) == {"()"}  # refused for the page and anything it embeds
