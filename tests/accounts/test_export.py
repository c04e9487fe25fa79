"""Download my data: JSON and iCalendar of my account, connections (never secrets) and events; nobody else's."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from icalendar import Calendar

from audit.models import AuditAction, AuditLog
from tests.conftest import PASSWORD
from tests.factories import make_account, make_connection, make_event

TOKEN = "ya29.very-secret-token"


@pytest.fixture
def calendar(owner):
    connection = make_connection(make_account(owner, access_token=TOKEN, refresh_token=TOKEN + "r"), name="Work")
    make_event(
        connection, provider_event_id="trip", title="Lisbon <b>trip</b>\nday one", all_day=True, timezone="",
        start=datetime(2026, 7, 4, tzinfo=UTC), end=datetime(2026, 7, 7, tzinfo=UTC),
    )  # fmt: skip
    master = make_event(
        connection, provider_event_id="standup", ical_uid="standup@example.com", title="Stand-up",
        start=datetime(2026, 11, 2, 8, tzinfo=UTC), end=datetime(2026, 11, 2, 8, 15, tzinfo=UTC),
        timezone="Europe/Berlin", recurrence="RRULE:FREQ=WEEKLY;BYDAY=MO\nEXDATE;TZID=Europe/Berlin:20261109T090000",
    )  # fmt: skip
    make_event(
        connection, provider_event_id="standup_20261116", title="Stand-up (moved)", recurring_event=master,
        master_provider_event_id="standup", original_start=datetime(2026, 11, 16, 8, tzinfo=UTC),
        start=datetime(2026, 11, 16, 9, tzinfo=UTC), end=datetime(2026, 11, 16, 9, 15, tzinfo=UTC),
        timezone="Europe/Berlin",
    )  # fmt: skip
    make_event(connection, provider_event_id="gone", title="Deleted", deleted_at=datetime.now(UTC))
    make_event(connection, provider_event_id="broken", title="Odd rule", recurrence="RRULE:NOT A RULE")
    return connection


def reauthenticate(client):
    """Give the password again, as allauth asks before a sensitive page."""
    assert client.post("/accounts/reauthenticate/", {"password": PASSWORD}).status_code == 302


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    reauthenticate(client)
    return client


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_json_export_has_my_account_connections_and_events_but_no_secrets(signed_in, calendar, stranger):
    make_event(make_connection(make_account(stranger)), title="Stranger's private meeting")
    response = signed_in.get("/accounts/export/calsync.json")
    assert response["Content-Disposition"].startswith('attachment; filename="calsync-')
    raw = body(response)
    assert TOKEN.encode() not in raw
    data = json.loads(raw)
    assert data["account"]["email"] == "owner@example.com"
    assert [c["calendar"] for c in data["connections"]] == ["Work"]
    titles = {event["title"] for event in data["events"]}
    assert titles == {"Lisbon <b>trip</b>\nday one", "Stand-up", "Stand-up (moved)", "Odd rule"}
    trip = next(event for event in data["events"] if event["id"] == "trip")
    assert (trip["start"], trip["end"], trip["all_day"]) == ("2026-07-04", "2026-07-07", True)
    assert AuditLog.objects.filter(action=AuditAction.ACCOUNT_DATA_EXPORTED, actor_id=calendar.user_id).exists()


def test_the_ics_export_is_a_calendar_any_app_can_read(signed_in, calendar, stranger):
    make_event(make_connection(make_account(stranger)), title="Stranger's private meeting")
    response = signed_in.get("/accounts/export/calsync.ics")
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    parsed = Calendar.from_ical(body(response))
    events = {str(event["SUMMARY"]): event for event in parsed.walk("VEVENT")}
    assert set(events) == {"Lisbon <b>trip</b>\nday one", "Stand-up", "Stand-up (moved)", "Odd rule"}

    trip = events["Lisbon <b>trip</b>\nday one"]
    assert (trip.decoded("DTSTART"), trip.decoded("DTEND")) == (date(2026, 7, 4), date(2026, 7, 7))

    standup = events["Stand-up"]
    assert standup.decoded("DTSTART") == datetime(2026, 11, 2, 9, tzinfo=standup.decoded("DTSTART").tzinfo)
    assert standup["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert standup["RRULE"].to_ical() == b"FREQ=WEEKLY;BYDAY=MO"
    assert "EXDATE" in standup

    moved = events["Stand-up (moved)"]
    assert str(moved["UID"]) == "standup@example.com"  # an exception shares its series' UID
    assert moved.decoded("RECURRENCE-ID").astimezone(UTC) == datetime(2026, 11, 16, 8, tzinfo=UTC)
    assert "RRULE" not in events["Odd rule"]  # an unreadable rule is left out, the event is not

    assert [str(zone["TZID"]) for zone in parsed.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_an_account_without_events_exports_cleanly(signed_in, owner):
    data = json.loads(body(signed_in.get("/accounts/export/calsync.json")))
    assert (data["connections"], data["events"]) == ([], [])
    assert list(Calendar.from_ical(body(signed_in.get("/accounts/export/calsync.ics"))).walk("VEVENT")) == []


def test_exports_need_a_signed_in_person(client, db):
    for url in ("/accounts/export/", "/accounts/export/calsync.json", "/accounts/export/calsync.ics"):
        assert client.get(url).status_code == 302


def test_the_export_asks_for_the_password_again_first(client, owner, calendar):
    client.force_login(owner)  # a session left open: signed in, but not just now
    for url in ("/accounts/export/", "/accounts/export/calsync.json", "/accounts/export/calsync.ics"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/reauthenticate/"), url
    assert not AuditLog.objects.filter(action=AuditAction.ACCOUNT_DATA_EXPORTED).exists()

    assert client.post("/accounts/reauthenticate/", {"password": "not the password"}).status_code == 200
    assert client.get("/accounts/export/calsync.json").status_code == 302

    reauthenticate(client)
    assert TOKEN.encode() not in body(client.get("/accounts/export/calsync.json"))
    assert AuditLog.objects.filter(action=AuditAction.ACCOUNT_DATA_EXPORTED).count() == 1


def test_the_export_page_links_both_downloads(signed_in):
    page = signed_in.get("/accounts/export/").content.decode()
    assert "/accounts/export/calsync.json" in page
    assert "/accounts/export/calsync.ics" in page


def test_the_json_export_also_has_addresses_devices_two_factor_and_my_activity(client, owner, calendar):
    from allauth.account.models import EmailAddress

    from audit.services import record

    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    record(action=AuditAction.ACCOUNT_PASSWORD_CHANGED, actor=owner)
    client.post("/accounts/login/", {"login": owner.email, "password": PASSWORD})
    reauthenticate(client)
    data = json.loads(body(client.get("/accounts/export/calsync.json")))
    assert data["email_addresses"] == [{"email": "owner@example.com", "verified": True, "primary": True}]
    assert [device["ip_address"] for device in data["devices"]] == ["127.0.0.1"]
    assert data["two_factor_methods"] == []
    assert "account.password_changed" in [entry["action"] for entry in data["activity"]]


def test_exceptions_of_a_deleted_series_are_not_exported(signed_in, calendar):
    from events.models import CalendarEvent

    CalendarEvent.objects.filter(provider_event_id="standup").update(deleted_at=datetime.now(UTC))
    data = json.loads(body(signed_in.get("/accounts/export/calsync.json")))
    assert "Stand-up (moved)" not in {event["title"] for event in data["events"]}


def test_zones_named_only_in_exdates_get_their_vtimezone(signed_in, calendar):
    make_event(
        calendar, provider_event_id="paris", title="Paris call", timezone="UTC",
        recurrence="RRULE:FREQ=DAILY;COUNT=3\nEXDATE;TZID=Europe/Paris:20261125T100000",
    )  # fmt: skip
    parsed = Calendar.from_ical(body(signed_in.get("/accounts/export/calsync.ics")))
    assert {str(zone["TZID"]) for zone in parsed.walk("VTIMEZONE")} == {"Europe/Berlin", "Europe/Paris", "UTC"}


@pytest.mark.django_db(transaction=True)  # streaming runs after the request's transaction has committed
def test_a_large_export_with_a_hostile_zone_streams_to_the_end(client, owner):
    from events.models import CalendarEvent

    connection = make_connection(make_account(owner))
    start = datetime(2026, 1, 1, 9, tzinfo=UTC)
    CalendarEvent.objects.bulk_create(
        CalendarEvent(
            connection=connection, provider_event_id=f"e{number}", title=f"Event {number}",
            start=start, end=start, timezone="Europe" if number == 7 else "Europe/Berlin",
        )
        for number in range(1200)
    )  # fmt: skip
    client.force_login(owner)
    reauthenticate(client)
    parsed = Calendar.from_ical(body(client.get("/accounts/export/calsync.ics")))
    assert len(parsed.walk("VEVENT")) == 1200
    data = json.loads(body(client.get("/accounts/export/calsync.json")))
    assert len(data["events"]) == 1200
