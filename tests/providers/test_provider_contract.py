"""The provider contract (DESIGN §4): every adapter passes the same suite, against its real counterpart.

Google and Microsoft run against their loopback fakes through the real client libraries; CalDAV against
a real Radicale server. Each `Case` says how to reach an account with known calendars (vdirsyncer's
StorageTests idea: one suite, many storages).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from connections.providers.base import AuthRevoked, Credentials, ProviderAdapter, ProviderError, TokenRejected
from connections.providers.caldav import CalDAVAdapter
from connections.providers.google import GoogleAdapter
from connections.providers.google.client import SCOPES as GOOGLE_SCOPES
from connections.providers.microsoft import MicrosoftAdapter
from connections.providers.microsoft.client import SCOPES as MICROSOFT_SCOPES
from connections.providers.values import HEX_COLOR


@dataclass
class Case:
    adapter: ProviderAdapter
    credentials: Credentials
    calendar_names: set[str]
    primary: str | None
    read_only: set[str]
    wrong_credentials: Credentials
    wrong_credentials_error: type[Exception]
    break_endpoints: Callable[[], None]  # point the adapter at a port where nothing listens


def google_case(fake_google, settings) -> Case:
    person = fake_google.add_user("olive@gmail.com")
    fake_google.add_calendar(person.sub, summary="Team", backgroundColor="#7bd148")
    fake_google.add_calendar(person.sub, summary="Holidays", accessRole="reader")
    tokens = fake_google.issue_tokens(person.sub, list(GOOGLE_SCOPES))
    credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])

    def break_endpoints() -> None:
        settings.GOOGLE_API_BASE = settings.GOOGLE_TOKEN_URI = "https://127.0.0.1:9/"

    return Case(
        GoogleAdapter(),
        credentials,
        {"olive@gmail.com", "Team", "Holidays"},
        "olive@gmail.com",
        {"Holidays"},
        replace(credentials, access_token="ya29.forged"),
        TokenRejected,
        break_endpoints,
    )


def microsoft_case(fake_microsoft, settings) -> Case:
    person = fake_microsoft.add_user("olive@contoso.com")
    fake_microsoft.add_calendar(person.oid, name="Birthdays", canEdit=False)
    fake_microsoft.add_calendar(person.oid, name="Projects", hexColor="#1E88E5")
    tokens = fake_microsoft.issue_tokens(person.oid, [*MICROSOFT_SCOPES, "openid", "profile", "offline_access"])
    credentials = Credentials(access_token=tokens["access_token"], refresh_token=tokens["refresh_token"])

    def break_endpoints() -> None:
        settings.MICROSOFT_GRAPH_BASE = settings.MICROSOFT_AUTHORITY_HOST = "https://127.0.0.1:9"

    return Case(
        MicrosoftAdapter(),
        credentials,
        {"Calendar", "Birthdays", "Projects"},
        "Calendar",
        {"Birthdays"},
        replace(credentials, access_token="forged"),
        TokenRejected,
        break_endpoints,
    )


def caldav_case(caldav_account, settings) -> Case:
    settings.CALDAV_ALLOW_PRIVATE_HOSTS = True
    credentials = Credentials(
        server_url=caldav_account.url, username=caldav_account.username, password=caldav_account.password
    )

    def break_endpoints() -> None:
        nonlocal credentials
        credentials = replace(credentials, server_url="https://127.0.0.1:9/")
        built.credentials = credentials

    built = Case(
        CalDAVAdapter(),
        credentials,
        {"Work", "Home"},
        None,
        set(),
        replace(credentials, password="wrong"),
        AuthRevoked,
        break_endpoints,
    )
    return built


def build_case(request, settings) -> Case:
    if request.param == "google":
        return google_case(request.getfixturevalue("fake_google"), settings)
    if request.param == "microsoft":
        return microsoft_case(request.getfixturevalue("fake_microsoft"), settings)
    return caldav_case(request.getfixturevalue("caldav_account"), settings)


@pytest.fixture(params=["google", "microsoft", "caldav"])
def case(request, settings) -> Case:
    return build_case(request, settings)


@pytest.fixture(params=["google", "microsoft"])
def oauth_case(request, settings) -> Case:
    """The adapters that hold refresh tokens."""
    return build_case(request, settings)


def test_list_calendars_names_every_calendar_with_its_flags(case):
    calendars = case.adapter.list_calendars(case.credentials)
    assert {c.name for c in calendars} == case.calendar_names
    assert len({c.remote_id for c in calendars}) == len(calendars)  # ids are unique
    assert [c.name for c in calendars if c.is_primary] == ([case.primary] if case.primary else [])
    assert {c.name for c in calendars if c.read_only} == case.read_only
    assert all(c.color == "" or (HEX_COLOR.match(c.color) and c.color == c.color.lower()) for c in calendars)
    assert any(c.color for c in calendars)


def test_wrong_credentials_raise_the_contract_error(case):
    with pytest.raises(case.wrong_credentials_error):
        case.adapter.list_calendars(case.wrong_credentials)


def test_an_unreachable_provider_is_a_retryable_error(case):
    case.break_endpoints()
    with pytest.raises(ProviderError) as caught:
        case.adapter.list_calendars(case.credentials)
    assert not caught.value.permanent
    assert not isinstance(caught.value, AuthRevoked)


def test_refresh_gives_working_credentials_or_is_not_offered(case):
    if not case.adapter.uses_oauth:
        with pytest.raises(NotImplementedError):
            case.adapter.refresh(case.credentials)
        return
    refreshed = case.adapter.refresh(case.credentials)
    assert refreshed.access_token and refreshed.access_token != case.credentials.access_token
    assert refreshed.refresh_token and refreshed.expires_at is not None
    assert {c.name for c in case.adapter.list_calendars(refreshed)} == case.calendar_names


def test_a_refresh_token_that_is_gone_raises_auth_revoked(oauth_case):
    with pytest.raises(AuthRevoked):
        oauth_case.adapter.refresh(replace(oauth_case.credentials, refresh_token="1//never-issued"))


def test_missing_settings_are_named(case, settings):
    if not case.adapter.uses_oauth:
        assert case.adapter.missing_settings() == []
        return
    prefix = "GOOGLE" if case.adapter.provider == "google" else "MICROSOFT"
    setattr(settings, f"{prefix}_CLIENT_SECRET", "")
    assert case.adapter.missing_settings() == [f"{prefix}_CLIENT_SECRET"]


def test_revoke_when_offered_withdraws_the_grant(case):
    if not case.adapter.can_revoke:
        with pytest.raises(NotImplementedError):
            case.adapter.revoke(case.credentials)
        return
    case.adapter.revoke(case.credentials)
    with pytest.raises(AuthRevoked):
        case.adapter.refresh(case.credentials)
    case.adapter.revoke(case.credentials)  # revoking twice is fine


def test_credentials_never_print_their_secrets(case):
    shown = repr(case.credentials)
    for secret in (case.credentials.access_token, case.credentials.refresh_token, case.credentials.password):
        assert not secret or secret not in shown
