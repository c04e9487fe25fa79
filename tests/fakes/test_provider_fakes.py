"""The provider fakes, driven by the real client libraries only (no calsync code): if these pass, the fakes speak
the protocol those libraries expect, so app tests against the fakes exercise the same code paths as production."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qsl, urlsplit

import google_auth_httplib2
import httplib2
import msal
import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import InvalidGrantError

from fakes.base import decode_jwt_claims

REDIRECT_URI = "https://calsync.test/connections/callback/"
CALENDAR_SCOPES = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/calendar.readonly",
]
GRAPH_SCOPES = ["Calendars.ReadWrite", "User.Read"]


def follow_consent(auth_url: str) -> dict[str, str]:
    """What the browser brings back to redirect_uri after the consent screen."""
    response = requests.get(auth_url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return dict(parse_qsl(urlsplit(location).query))


# Google ---------------------------------------------------------------------------------------------------------


def google_flow(fake, scopes=CALENDAR_SCOPES) -> Flow:
    config = {
        "web": {
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "auth_uri": f"{fake.base_url}/o/oauth2/v2/auth",
            "token_uri": f"{fake.base_url}/token",
        }
    }
    return Flow.from_client_config(config, scopes=scopes, redirect_uri=REDIRECT_URI, autogenerate_code_verifier=True)


def consent(flow: Flow, **params) -> dict[str, str]:
    auth_url, _state = flow.authorization_url(**params)
    return follow_consent(auth_url)


def calendar_service(fake, credentials):
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http())
    return build(
        "calendar",
        "v3",
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": f"{fake.base_url}/calendar/v3/"},
        http=http,
    )


@pytest.fixture
def google_person(fake_google):
    person = fake_google.add_user("pat@gmail.example", name="Pat Doe")
    fake_google.add_calendar(person.sub, summary="Family", accessRole="writer", summaryOverride="Home")
    fake_google.add_calendar(
        person.sub, id="en.german#holiday@group.v.calendar.google.com", summary="Holidays", accessRole="reader"
    )
    return person


def test_google_consent_code_exchange_and_paged_calendar_list(fake_google, google_person):
    fake_google.page_size = 2
    flow = google_flow(fake_google)
    reply = consent(flow, access_type="offline", prompt="consent")
    assert reply["scope"] == " ".join(CALENDAR_SCOPES)

    token = flow.fetch_token(code=reply["code"])
    assert token["refresh_token"].startswith("1//") and token["expires_in"] == 3599
    claims = decode_jwt_claims(token["id_token"])
    assert (claims["iss"], claims["aud"], claims["sub"]) == (
        "https://accounts.google.com",
        "google-client-id",
        google_person.sub,
    )
    assert (claims["email"], claims["email_verified"]) == ("pat@gmail.example", True)

    service = calendar_service(fake_google, flow.credentials)
    request, pages = service.calendarList().list(), []
    while request is not None:
        pages.append(request.execute())
        request = service.calendarList().list_next(request, pages[-1])
    items = [item for page in pages for item in page["items"]]
    assert [item["id"] for item in items] == [
        "pat@gmail.example",
        items[1]["id"],
        "en.german#holiday@group.v.calendar.google.com",
    ]
    assert items[0]["primary"] is True and "primary" not in items[1]
    assert (items[1]["summaryOverride"], items[1]["accessRole"]) == ("Home", "writer")
    assert "nextPageToken" in pages[0] and "nextSyncToken" in pages[1]
    assert [query.get("pageToken") for _m, path, query in fake_google.request_log if path.endswith("calendarList")] == [
        None,
        pages[0]["nextPageToken"],
    ]


def test_google_spells_out_shorthand_scopes_which_oauthlib_calls_a_scope_change(fake_google, google_person):
    flow = google_flow(fake_google, scopes=["email", "https://www.googleapis.com/auth/calendar"])
    reply = consent(flow)
    assert reply["scope"].split() == [
        "openid",
        "https://www.googleapis.com/auth/userinfo.email",
        "https://www.googleapis.com/auth/calendar",
    ]
    with pytest.raises(Warning, match="Scope has changed"):
        flow.fetch_token(code=reply["code"])


def test_google_refresh_token_only_on_offline_consent_and_never_rotated(fake_google, google_person):
    first = google_flow(fake_google)
    refresh_token = first.fetch_token(code=consent(first, access_type="offline")["code"])["refresh_token"]
    again = google_flow(fake_google)  # a second offline consent without prompt=consent brings no refresh token
    assert "refresh_token" not in again.fetch_token(code=consent(again, access_type="offline")["code"])

    credentials = Credentials(
        token=None,
        refresh_token=refresh_token,
        token_uri=f"{fake_google.base_url}/token",
        client_id=fake_google.client_id,
        client_secret=fake_google.client_secret,
    )
    credentials.refresh(Request())
    assert str(credentials.token).startswith("ya29.") and credentials.refresh_token == refresh_token


def test_google_expired_access_token_is_401_and_the_client_refreshes(fake_google, google_person):
    flow = google_flow(fake_google)
    flow.fetch_token(code=consent(flow, access_type="offline", prompt="consent")["code"])
    old_token = flow.credentials.token
    fake_google.expire_access_tokens()

    response = requests.get(
        f"{fake_google.base_url}/calendar/v3/users/me/calendarList",
        headers={"Authorization": f"Bearer {old_token}"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json()["error"]["errors"][0]["reason"] == "authError"

    service = calendar_service(fake_google, flow.credentials)  # AuthorizedHttp refreshes on 401 and retries
    assert len(service.calendarList().list().execute()["items"]) == 3
    assert [path for method, path, _q in fake_google.request_log if method == "POST"][-1] == "/token"


def test_google_refuses_a_wrong_verifier_and_a_reused_code(fake_google, google_person):
    flow = google_flow(fake_google)
    code = consent(flow, access_type="offline")["code"]
    with pytest.raises(InvalidGrantError, match="Invalid code verifier"):
        flow.fetch_token(code=code, code_verifier="x" * 64)
    flow.fetch_token(code=code)
    with pytest.raises(InvalidGrantError):
        flow.fetch_token(code=code)


def test_google_revoked_grant_stops_refresh_and_api_calls(fake_google, google_person):
    tokens = fake_google.issue_tokens(google_person.sub, CALENDAR_SCOPES)
    response = requests.post(f"{fake_google.base_url}/revoke", data={"token": tokens["refresh_token"]}, timeout=5)
    assert response.status_code == 200

    credentials = Credentials(
        token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        token_uri=f"{fake_google.base_url}/token",
        client_id=fake_google.client_id,
        client_secret=fake_google.client_secret,
    )
    with pytest.raises(RefreshError, match="invalid_grant"):
        credentials.refresh(Request())
    with pytest.raises(RefreshError):  # the access token went with the grant: 401, refresh, invalid_grant
        calendar_service(fake_google, credentials).calendarList().list().execute()


def test_google_denied_consent_and_queued_rate_limit(fake_google, google_person):
    fake_google.deny = True
    reply = consent(google_flow(fake_google), access_type="offline")
    assert reply["error"] == "access_denied" and "code" not in reply

    tokens = fake_google.issue_tokens(google_person.sub, CALENDAR_SCOPES)
    fake_google.faults.append((403, None))
    service = calendar_service(fake_google, Credentials(token=tokens["access_token"]))
    with pytest.raises(HttpError) as limited:
        service.calendarList().list().execute()
    assert limited.value.status_code == 403 and limited.value.error_details[0]["reason"] == "rateLimitExceeded"


# Microsoft ------------------------------------------------------------------------------------------------------


def msal_app(fake, secret=None) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        fake.client_id,
        client_credential=secret or fake.client_secret,
        authority=f"{fake.base_url}/common",
        instance_discovery=False,
    )


def sign_in(fake, app):
    """Sign in with response_mode=form_post (msal warns without it): the page posts the reply to redirect_uri."""
    flow = app.initiate_auth_code_flow(GRAPH_SCOPES, redirect_uri=REDIRECT_URI, response_mode="form_post")
    page = requests.get(flow["auth_uri"], timeout=5)
    assert page.status_code == 200 and f'action="{REDIRECT_URI}"' in page.text
    return flow, {
        name: html.unescape(value) for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
    }


@pytest.fixture
def microsoft_person(fake_microsoft):
    person = fake_microsoft.add_user("sam@contoso.example", display_name="Sam Jones")
    fake_microsoft.add_calendar(person.oid, name="Team", color="lightBlue", hexColor="#a6d1f5", canEdit=False)
    fake_microsoft.add_calendar(person.oid, name="Birthdays", color="lightGreen", hexColor="#87d28e")
    return person


def graph_get(url, access_token):
    return requests.get(url, headers={"Authorization": f"Bearer {access_token}"}, timeout=5)


def test_microsoft_auth_code_flow_and_paged_graph_calendars(fake_microsoft, microsoft_person):
    fake_microsoft.page_size = 2
    app = msal_app(fake_microsoft)
    flow, reply = sign_in(fake_microsoft, app)
    result = app.acquire_token_by_auth_code_flow(flow, reply)  # msal checks state and the id_token's nonce
    assert "access_token" in result, result
    assert result["id_token_claims"]["oid"] == microsoft_person.oid
    assert result["refresh_token"] == fake_microsoft.issued_refresh_tokens[0]
    assert set(result["scope"].split()) == {*GRAPH_SCOPES, "openid", "profile", "offline_access"}

    me = graph_get(f"{fake_microsoft.base_url}/v1.0/me", result["access_token"]).json()
    assert (me["id"], me["mail"]) == (microsoft_person.oid, "sam@contoso.example")
    url, calendars = f"{fake_microsoft.base_url}/v1.0/me/calendars?$top=50&$select=name,hexColor", []
    while url:
        page = graph_get(url, result["access_token"]).json()
        calendars += page["value"]
        url = page.get("@odata.nextLink")
    assert [(c["name"], c["hexColor"]) for c in calendars] == [
        ("Calendar", ""),
        ("Team", "#a6d1f5"),
        ("Birthdays", "#87d28e"),
    ]
    assert set(calendars[0]) == {"id", "name", "hexColor"}


def test_microsoft_rotates_refresh_tokens_until_sessions_are_revoked(fake_microsoft, microsoft_person):
    app = msal_app(fake_microsoft)
    first = app.acquire_token_by_auth_code_flow(*sign_in(fake_microsoft, app))
    second = app.acquire_token_by_refresh_token(first["refresh_token"], GRAPH_SCOPES)
    assert second["refresh_token"] not in (None, first["refresh_token"])
    assert fake_microsoft.issued_refresh_tokens == [first["refresh_token"], second["refresh_token"]]
    assert "access_token" in app.acquire_token_by_refresh_token(first["refresh_token"], GRAPH_SCOPES)  # old one lives

    fake_microsoft.revoke_all()
    refused = app.acquire_token_by_refresh_token(second["refresh_token"], GRAPH_SCOPES)
    assert (refused["error"], refused["error_codes"]) == ("invalid_grant", [50173])
    # Access tokens already issued work until they expire, as Microsoft documents.
    assert graph_get(f"{fake_microsoft.base_url}/v1.0/me/calendars", second["access_token"]).status_code == 200


def test_microsoft_refuses_a_wrong_verifier_a_reused_code_and_a_bad_secret(fake_microsoft, microsoft_person):
    app = msal_app(fake_microsoft)
    flow, reply = sign_in(fake_microsoft, app)
    refused = app.acquire_token_by_auth_code_flow({**flow, "code_verifier": "y" * 64}, reply)
    assert (refused["error"], refused["error_codes"]) == ("invalid_grant", [501481])
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, reply)
    reused = app.acquire_token_by_auth_code_flow(flow, reply)
    assert (reused["error"], reused["error_codes"]) == ("invalid_grant", [54005])

    wrong = msal_app(fake_microsoft, secret="not-the-secret")
    assert (
        wrong.acquire_token_by_refresh_token(fake_microsoft.issued_refresh_tokens[0], GRAPH_SCOPES)["error"]
        == "invalid_client"
    )

    fake_microsoft.deny = True
    flow, reply = sign_in(fake_microsoft, app)
    assert app.acquire_token_by_auth_code_flow(flow, reply)["error"] == "access_denied"


def test_microsoft_graph_refuses_expired_tokens_and_throttles(fake_microsoft, microsoft_person):
    tokens = fake_microsoft.issue_tokens(microsoft_person.oid, [*GRAPH_SCOPES, "openid", "offline_access"])
    calendars = f"{fake_microsoft.base_url}/v1.0/me/calendars"
    fake_microsoft.faults.append((429, "3"))
    throttled = graph_get(calendars, tokens["access_token"])
    assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
    assert throttled.json()["error"]["code"] == "TooManyRequests"

    fake_microsoft.expire_access_tokens()
    expired = graph_get(calendars, tokens["access_token"])
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert graph_get(calendars, "").status_code == 401
