"""Connecting Google and Microsoft accounts: OAuth with PKCE through the real client libraries and the fakes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection as db
from django.test import Client
from django.urls import reverse
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from calsync.lib.ratelimit import Limit
from connections.models import CalendarConnection, OAuthState, Provider, ProviderAccount
from tests.conftest import PASSWORD
from tests.oauth_helpers import connect, consent, query_of, start

CONCURRENT_CALLBACKS = 50  # each holds its own database connection: well under max_connections


@pytest.fixture
def google_person(fake_google):
    person = fake_google.add_user("olive@gmail.com", sub="110248495921238986420")
    fake_google.add_calendar(person.sub, id="team@group.calendar.google.com", summary="Team", backgroundColor="#7BD148")
    fake_google.add_calendar(
        person.sub, id="holidays@group.v.calendar.google.com", summary="Holidays", accessRole="reader"
    )
    return person


@pytest.fixture
def microsoft_person(fake_microsoft):
    person = fake_microsoft.add_user("olive@contoso.com")
    fake_microsoft.add_calendar(person.oid, name="Birthdays", color="lightGreen", canEdit=False)
    return person


def stored_column(account_id: int, column: str) -> str:
    with db.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM provider_accounts WHERE id = %s", [account_id])  # noqa: S608
        return str(cursor.fetchone()[0])


def refusals(reason: str | None = None) -> int:
    rows = AuditLog.objects.filter(action=AuditAction.CONNECTION_OAUTH_REFUSED)
    return sum(1 for row in rows if reason is None or row.metadata.get("reason") == reason)


def test_google_connect_uses_pkce_offline_access_and_stores_tokens_encrypted(
    owner_client, owner, google_person, fake_google
):
    authorize = start(owner_client, "google")
    query = query_of(authorize)
    assert authorize.startswith(fake_google.base_url + "/o/oauth2/v2/auth?")
    assert (query["code_challenge_method"], query["access_type"], query["response_type"]) == ("S256", "offline", "code")
    assert "https://www.googleapis.com/auth/calendar" in query["scope"].split()
    state = OAuthState.objects.get(state=query["state"])
    assert len(state.state) >= 43  # 32 random bytes, base64url
    assert state.flow["code_verifier"]  # kept for the callback, encrypted in the row
    assert state.flow["code_verifier"] not in stored_column_state(state.pk)

    response = owner_client.get(consent(authorize))
    account = ProviderAccount.objects.get(user=owner)
    assert response.status_code == 302 and response.url == reverse("connections_choose", args=[account.pk])
    assert (account.provider, account.external_id, account.email) == (
        Provider.GOOGLE,
        google_person.sub,
        "olive@gmail.com",
    )
    assert account.access_token in fake_google.access_tokens
    assert account.refresh_token in fake_google.refresh_tokens
    assert account.token_expires_at is not None
    assert account.token_expires_at > now() + timedelta(minutes=50)
    for column in ("access_token", "refresh_token"):
        assert getattr(account, column) not in stored_column(account.pk, column)
    assert OAuthState.objects.get(pk=state.pk).consumed_at is not None
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_CONNECTED, target_id=str(account.pk)).exists()

    chooser = owner_client.get(response.url).content.decode()
    assert "Team" in chooser and 'fill="#7bd148"' in chooser
    assert "Read-only" in chooser  # Holidays: a reader's calendar
    owner_client.post(response.url, {"calendars": ["olive@gmail.com", "holidays@group.v.calendar.google.com"]})
    rows = dict(CalendarConnection.objects.filter(user=owner).values_list("name", "read_only"))
    assert rows == {"olive@gmail.com": False, "Holidays": True}
    assert CalendarConnection.objects.get(name="olive@gmail.com").is_primary


def stored_column_state(state_id: int) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT flow FROM oauth_states WHERE id = %s", [state_id])
        return str(cursor.fetchone()[0])


def test_microsoft_connect_keeps_msals_own_flow_and_finds_the_account_through_graph(
    owner_client, owner, microsoft_person, fake_microsoft
):
    authorize = start(owner_client, "microsoft")
    query = query_of(authorize)
    assert authorize.startswith(f"{fake_microsoft.base_url}/common/oauth2/v2.0/authorize?")
    assert query["code_challenge_method"] == "S256"
    assert {"offline_access", "Calendars.ReadWrite", "User.Read"} <= set(query["scope"].split())
    state = OAuthState.objects.get(state=query["state"])
    assert state.flow["state"] == query["state"] and state.flow["code_verifier"] and state.flow["nonce"]

    response = owner_client.get(consent(authorize))
    account = ProviderAccount.objects.get(user=owner)
    assert response.status_code == 302
    assert (account.provider, account.external_id, account.email) == (
        Provider.MICROSOFT,
        microsoft_person.oid,
        "olive@contoso.com",
    )
    assert account.refresh_token in fake_microsoft.refresh_tokens
    assert account.refresh_token not in stored_column(account.pk, "refresh_token")

    chooser = owner_client.get(response.url).content.decode()
    assert "Birthdays" in chooser and "Read-only" in chooser
    owner_client.post(response.url, {"calendars": [c["id"] for c in microsoft_person.calendars]})
    calendars = {c.name: c for c in CalendarConnection.objects.filter(user=owner)}
    assert calendars["Calendar"].is_primary and not calendars["Calendar"].read_only
    assert calendars["Birthdays"].read_only and calendars["Birthdays"].color == "#5fb85f"


def test_reconnecting_updates_the_same_account(owner_client, owner, google_person):
    connect(owner_client, "google")
    first = ProviderAccount.objects.get(user=owner)
    connect(owner_client, "google")
    second = ProviderAccount.objects.get(user=owner)
    assert first.pk == second.pk and first.access_token != second.access_token
    assert AuditLog.objects.filter(action=AuditAction.CONNECTION_RECONNECTED).count() == 1


# --- refusals: a clear page, an audit row, nothing stored -------------------------------------------------


def assert_refused(response, text: str, reason: str) -> None:
    assert response.status_code == 400
    page = response.content.decode()
    assert text in page and "Nothing was saved" in page
    assert refusals(reason) == 1
    assert not ProviderAccount.objects.exists()


def test_a_callback_without_state_is_refused(owner_client, google_person):
    callback = consent(start(owner_client, "google"))
    without_state = "&".join(part for part in callback.split("?", 1)[1].split("&") if not part.startswith("state="))
    response = owner_client.get(reverse("connections_callback", args=["google"]) + "?" + without_state)
    assert_refused(response, "without the sign-in reference", "missing")


def test_an_unknown_state_is_refused(owner_client, google_person):
    response = owner_client.get(reverse("connections_callback", args=["google"]) + "?state=forged&code=abc")
    assert_refused(response, "do not recognise this sign-in", "unknown")


def test_an_expired_state_is_refused(owner_client, google_person):
    callback = consent(start(owner_client, "google"))
    OAuthState.objects.update(expires_at=now() - timedelta(seconds=1))
    assert_refused(owner_client.get(callback), "expired", "expired")


def test_a_replayed_callback_is_refused(owner_client, owner, google_person):
    callback = consent(start(owner_client, "google"))
    assert owner_client.get(callback).status_code == 302
    response = owner_client.get(callback)
    assert response.status_code == 400
    assert "already completed" in response.content.decode()
    assert refusals("used") == 1
    assert ProviderAccount.objects.filter(user=owner).count() == 1


def test_another_persons_state_is_refused(owner_client, stranger, google_person):
    callback = consent(start(owner_client, "google"))
    other = Client()
    other.login(email=stranger.email, password=PASSWORD)
    assert_refused(other.get(callback), "different calsync account", "wrong_person")


def test_the_same_person_in_another_browser_is_refused(owner_client, owner, google_person):
    callback = consent(start(owner_client, "google"))
    elsewhere = Client()
    elsewhere.login(email=owner.email, password=PASSWORD)
    assert_refused(elsewhere.get(callback), "different browser", "wrong_browser")


def test_declining_at_the_provider_is_refused_and_audited(owner_client, fake_google, google_person):
    fake_google.deny = True
    response = owner_client.get(consent(start(owner_client, "google")))
    assert_refused(response, "You declined access", "provider_error")


def test_unticking_calendar_access_is_refused(owner_client, fake_google, google_person):
    fake_google.declined_scopes = {"https://www.googleapis.com/auth/calendar"}
    response = owner_client.get(consent(start(owner_client, "google")))
    assert_refused(response, "needs permission to see and edit your Google calendars", "exchange_failed")


def test_a_provider_without_client_settings_is_never_started(owner_client, settings):
    settings.MICROSOFT_CLIENT_ID = ""
    response = owner_client.post(reverse("connections_start", args=["microsoft"]))
    assert response.status_code == 302 and response.url == reverse("connections")
    assert not OAuthState.objects.exists()


def test_the_start_and_callback_are_rate_limited(owner_client, google_person):
    for _ in range(10):
        start(owner_client, "google")
    assert owner_client.post(reverse("connections_start", args=["google"])).status_code == 429
    for _ in range(10):
        owner_client.get(reverse("connections_callback", args=["google"]) + "?state=x")
    assert owner_client.get(reverse("connections_callback", args=["google"]) + "?state=x").status_code == 429


def test_the_start_is_also_limited_per_ip_address_across_people(owner_client, stranger, google_person, monkeypatch):
    monkeypatch.setattr("connections.views.START_LIMIT", Limit(per_user=100, per_ip=3, period_seconds=600))
    other = Client()
    other.login(email=stranger.email, password=PASSWORD)
    start(owner_client, "google")
    start(owner_client, "google")
    start(other, "google")
    assert other.post(reverse("connections_start", args=["google"])).status_code == 429
    elsewhere = Client(REMOTE_ADDR="203.0.113.9")
    elsewhere.login(email=stranger.email, password=PASSWORD)
    assert elsewhere.post(reverse("connections_start", args=["google"])).status_code == 302


def test_an_unreachable_provider_at_the_start_leaves_no_state_behind(owner_client, fake_microsoft, settings):
    settings.MICROSOFT_AUTHORITY_HOST = "https://127.0.0.1:9"  # nothing listens: msal cannot load its configuration
    response = owner_client.post(reverse("connections_start", args=["microsoft"]))
    assert response.status_code == 302 and response.url == reverse("connections")
    assert not OAuthState.objects.exists()


def test_the_start_is_post_only(owner_client, google_person):
    assert owner_client.get(reverse("connections_start", args=["google"])).status_code == 405


@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_callbacks_with_one_state_make_exactly_one_connection(owner, google_person, monkeypatch):
    # Fifty callbacks from one person would otherwise trip the callback rate limit before the state check.
    monkeypatch.setattr("connections.views.CALLBACK_LIMIT", Limit(per_user=100, per_ip=100, period_seconds=600))
    browser = Client()
    browser.login(email=owner.email, password=PASSWORD)
    callback = consent(start(browser, "google"))
    cookies = browser.cookies
    statuses: list[int] = []
    barrier = threading.Barrier(CONCURRENT_CALLBACKS)

    def call() -> None:
        client = Client()
        client.cookies = cookies
        barrier.wait()
        try:
            statuses.append(client.get(callback).status_code)
        finally:
            db.close()

    threads = [threading.Thread(target=call) for _ in range(CONCURRENT_CALLBACKS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [302] + [400] * (CONCURRENT_CALLBACKS - 1)
    assert ProviderAccount.objects.filter(user=owner).count() == 1
    assert refusals("used") == CONCURRENT_CALLBACKS - 1


def test_the_calendar_chooser_is_rate_limited_before_it_asks_the_provider(
    owner_client, owner, google_person, fake_google, monkeypatch
):
    monkeypatch.setattr("connections.views.CHOOSER_LIMIT", Limit(per_user=3, per_ip=100, period_seconds=600))
    owner_client.get(consent(start(owner_client, "google")))
    account = ProviderAccount.objects.get(user=owner)
    chooser = reverse("connections_choose", args=[account.pk])
    fake_google.request_log.clear()
    assert [owner_client.get(chooser).status_code for _ in range(3)] == [200, 200, 200]
    assert owner_client.get(chooser).status_code == 429
    assert owner_client.post(chooser, {"calendars": ["team@group.calendar.google.com"]}).status_code == 429
    listings = [route for _, route, _ in fake_google.request_log if "calendarList" in route]
    assert len(listings) == 3  # the refused visits cost the provider nothing
    assert not CalendarConnection.objects.filter(user=owner).exists()
