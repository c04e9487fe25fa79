"""The Radicale fixture serves real CalDAV over TLS, as the caldav library sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import caldav
import pytest
import requests
from caldav.elements import cdav, dav, ical
from caldav.elements.base import BaseElement
from caldav.lib.error import AuthorizationError
from caldav.lib.namespace import ns

if TYPE_CHECKING:  # a runtime import would keep pytest from rewriting asserts in the plugin below
    from fakes.radicale import CalDAVAccount, RadicaleServer

# Until conftest registers the fixtures. (Importing them here instead trips ruff's F811 on every test
# that takes them as arguments.)

pytestmark = pytest.mark.slow

COLOR = "{http://apple.com/ns/ical/}calendar-color"

EVENT = """\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//calsync tests//EN\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260105T080000Z\r
DTSTART:20260105T090000Z\r
DTEND:20260105T100000Z\r
SUMMARY:Stand-up\r
END:VEVENT\r
END:VCALENDAR\r
"""


class CurrentUserPrivilegeSet(BaseElement):  # RFC 3744 5.4; caldav 1.6 has no element for it
    tag: ClassVar[str] = ns("D", "current-user-privilege-set")


def privileges(calendar: caldav.Calendar) -> set[str]:
    found = calendar.get_properties([CurrentUserPrivilegeSet()], parse_props=False)
    return {privilege[0].tag for privilege in found[CurrentUserPrivilegeSet.tag]}


def test_discovery_over_https_finds_both_calendars_with_names_and_colours(
    radicale: RadicaleServer, caldav_account: CalDAVAccount
):
    with caldav.DAVClient(
        url=caldav_account.url, username=caldav_account.username, password=caldav_account.password
    ) as client:
        principal = client.principal()
        assert str(principal.url) == f"{radicale.url}{caldav_account.username}/"
        calendars = principal.calendars()
        found = {
            cal.name: (str(cal.url), cal.get_properties([dav.DisplayName(), ical.CalendarColor()])) for cal in calendars
        }

    assert found == {
        "Work": (caldav_account.calendars["Work"], {"{DAV:}displayname": "Work", COLOR: "#1e88e5"}),
        "Home": (caldav_account.calendars["Home"], {"{DAV:}displayname": "Home", COLOR: "#43a047"}),
    }
    assert all(url.startswith("https://127.0.0.1:") for url in caldav_account.calendars.values())


def test_make_calendar_sends_the_time_zone(radicale: RadicaleServer, caldav_account: CalDAVAccount):
    url = radicale.make_calendar(
        caldav_account.username, caldav_account.password, "Travel", color="#fb8c00", timezone="Europe/Berlin"
    )
    with caldav_account.client() as client:
        timezone = client.calendar(url=url).get_property(cdav.CalendarTimeZone())
    assert timezone is not None
    assert "BEGIN:VTIMEZONE" in timezone
    assert "TZID:Europe/Berlin" in timezone


def test_wrong_password_and_plain_http_are_refused(radicale: RadicaleServer, caldav_account: CalDAVAccount):
    wrong = caldav.DAVClient(url=radicale.url, username=caldav_account.username, password="not-the-password")
    with wrong, pytest.raises(AuthorizationError):
        wrong.principal()

    plain_url = radicale.url.replace("https://", "http://")
    plain = caldav.DAVClient(url=plain_url, username=caldav_account.username, password=caldav_account.password)
    with plain, pytest.raises(requests.ConnectionError):
        plain.principal()


def test_read_only_share_offers_no_write_privilege(radicale: RadicaleServer, caldav_account: CalDAVAccount):
    owner = caldav_account
    work = owner.calendars["Work"]
    reader, reader_password = f"{owner.username}-reader", "reader password 1"
    radicale.add_user(reader, reader_password)
    radicale.share_read_only(owner.username, work, reader)

    with owner.client() as client:
        owner_calendar = client.calendar(url=work)
        assert {"{DAV:}write", "{DAV:}write-content"} <= privileges(owner_calendar)
        owner_calendar.save_event(EVENT.format(uid="owner-event"))

    with radicale.client(reader, reader_password) as client:
        shared = client.calendar(url=work)
        assert privileges(shared) == {"{DAV:}read", "{urn:ietf:params:xml:ns:caldav}read-free-busy"}
        assert [str(event.url) for event in shared.events()] == [f"{work}owner-event.ics"]
        with pytest.raises(AuthorizationError):
            shared.save_event(EVENT.format(uid="reader-event"))
        with pytest.raises(AuthorizationError):
            client.calendar(url=owner.calendars["Home"]).events()


def test_sync_collection_reports_additions_changes_and_deletions(caldav_account: CalDAVAccount):
    with caldav_account.client() as client:
        calendar = client.calendar(url=caldav_account.calendars["Home"])
        synced = calendar.objects_by_sync_token(load_objects=True)
        assert list(synced) == []
        empty_token = synced.sync_token
        assert empty_token

        event = calendar.save_event(EVENT.format(uid="sync-me"))
        updated, deleted = synced.sync()
        assert ([str(o.url) for o in updated], deleted) == ([str(event.url)], [])
        assert synced.sync_token != empty_token

        event.icalendar_component["SUMMARY"] = "Stand-up (moved)"
        event.save()
        updated, deleted = synced.sync()
        assert ([str(o.url) for o in updated], deleted) == ([str(event.url)], [])

        event.delete()
        updated, deleted = synced.sync()
        assert (updated, [str(o.url) for o in deleted]) == ([], [str(event.url)])
        assert list(calendar.objects_by_sync_token(sync_token=synced.sync_token)) == []

        # An unknown token is a 403 with DAV:valid-sync-token (RFC 6578 3.2), which caldav raises as
        # AuthorizationError; the client must then start over without a token.
        with pytest.raises(AuthorizationError):
            calendar.objects_by_sync_token(sync_token="http://radicale.org/ns/sync/" + "0" * 64)
