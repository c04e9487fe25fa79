from __future__ import annotations

from django.urls import reverse


def test_it_shows_the_landing_page_to_visitors(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"All your calendars, one week view." in response.content
    assert reverse("account_signup").encode() in response.content


def test_it_shows_a_signed_in_person_their_week(client, owner):
    client.force_login(owner)
    response = client.get(reverse("home"))
    assert b'aria-label="Weeks"' in response.content
    assert reverse("account_signup").encode() not in response.content


def test_it_refuses_writes(client, db):
    assert client.post(reverse("home")).status_code == 405


def test_the_health_check_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_allauth_pages_render_in_our_layout(client, db):
    response = client.get(reverse("account_login"))
    assert response.status_code == 200
    assert b'class="site-header"' in response.content


def test_the_health_check_answers_probes_on_any_host_and_over_http(client, db, settings):
    settings.ALLOWED_HOSTS = ["calsync.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.1.2.3:8000").status_code == 200
    assert client.get("/", HTTP_HOST="10.1.2.3:8000").status_code == 400  # everything else is still guarded
    assert client.get("/", HTTP_HOST="calsync.example.com").status_code == 301


def test_an_unknown_page_is_a_friendly_404_in_our_layout(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b'class="site-header"' in response.content
