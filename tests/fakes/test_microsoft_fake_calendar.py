"""The Graph fake's calendar events speak as Graph documents them (checked over HTTP, without calsync's adapter)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from connections.providers.microsoft.client import SCOPES


@pytest.fixture
def graph(fake_microsoft):
    person = fake_microsoft.add_user("olive@contoso.com", display_name="Olive Owner")
    tokens = fake_microsoft.issue_tokens(person.oid, [*SCOPES, "openid", "profile", "offline_access"])
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {tokens['access_token']}"
    return fake_microsoft, session, person.oid


def soon(days: int = 10) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


def window_params() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"startDateTime": f"{today}T00:00:00Z", "endDateTime": f"{today + timedelta(days=60)}T00:00:00Z"}


def delta_url(fake) -> str:
    return f"{fake.base_url}/v1.0/me/calendarView/delta"


def test_a_round_pages_with_next_links_and_ends_with_a_delta_link(graph):
    fake, session, oid = graph
    for n in range(3):
        start = datetime.combine(soon(n + 1), time(9))
        fake.add_event(oid, f"Event {n}", start, start + timedelta(hours=1))

    first = session.get(delta_url(fake), params=window_params(), headers={"Prefer": "odata.maxpagesize=2"})
    body = first.json()
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=2"
    assert len(body["value"]) == 2 and "$skiptoken=" in body["@odata.nextLink"] and "@odata.deltaLink" not in body

    last = session.get(body["@odata.nextLink"], headers={"Prefer": "odata.maxpagesize=2"}).json()
    assert len(last["value"]) == 1 and "$deltatoken=" in last["@odata.deltaLink"] and "@odata.nextLink" not in last

    quiet = session.get(last["@odata.deltaLink"]).json()
    assert quiet["value"] == [] and "$deltatoken=" in quiet["@odata.deltaLink"]


def test_occurrences_are_sparse_and_the_master_is_never_listed(graph):
    fake, session, oid = graph
    start = datetime.combine(soon(), time(9))
    master_id = fake.add_series(
        oid,
        "Standup",
        start,
        start + timedelta(minutes=15),
        {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "numberOfOccurrences": 2}},
        time_zone="Pacific Standard Time",
    )

    items = session.get(delta_url(fake), params=window_params()).json()["value"]

    assert [item["type"] for item in items] == ["occurrence", "occurrence"]
    assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "seriesMasterId", "type", "start", "end"}
    assert {item["seriesMasterId"] for item in items} == {master_id}
    master = session.get(f"{fake.base_url}/v1.0/me/events/{master_id}").json()
    assert master["type"] == "seriesMaster"
    assert master["originalStartTimeZone"] == "Pacific Standard Time"
    assert master["recurrence"]["range"] == {
        "type": "numbered",
        "startDate": start.date().isoformat(),
        "endDate": "0001-01-01",
        "recurrenceTimeZone": "Pacific Standard Time",
        "numberOfOccurrences": 2,
    }
    occurrence = session.get(f"{fake.base_url}/v1.0/me/events/{items[0]['id']}").json()
    assert occurrence["subject"] == "Standup" and occurrence["type"] == "occurrence"


def test_times_come_in_utc_unless_another_zone_is_preferred(graph):
    fake, session, oid = graph
    day = soon()
    event_id = fake.add_event(
        oid,
        "Call",
        datetime.combine(day, time(9)),
        datetime.combine(day, time(10)),
        time_zone="W. Europe Standard Time",
    )
    url = f"{fake.base_url}/v1.0/me/events/{event_id}"

    utc = session.get(url).json()
    pacific = session.get(url, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'})

    nine_in_berlin = datetime.combine(day, time(9), ZoneInfo("Europe/Berlin"))
    assert utc["start"] == {
        "dateTime": f"{nine_in_berlin.astimezone(UTC):%Y-%m-%dT%H:%M:%S}.0000000",
        "timeZone": "UTC",
    }
    assert utc["originalStartTimeZone"] == "W. Europe Standard Time"
    in_los_angeles = nine_in_berlin.astimezone(ZoneInfo("America/Los_Angeles"))
    assert pacific.json()["start"] == {
        "dateTime": f"{in_los_angeles:%Y-%m-%dT%H:%M:%S}.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert pacific.headers["Preference-Applied"] == 'outlook.timezone="Pacific Standard Time"'


def test_all_day_events_stay_at_midnight_in_their_own_zone(graph):
    fake, session, oid = graph
    day = soon()
    event_id = fake.add_event(oid, "Holiday", day, day + timedelta(days=1), time_zone="Tokyo Standard Time")

    body = session.get(
        f"{fake.base_url}/v1.0/me/events/{event_id}", headers={"Prefer": 'outlook.timezone="UTC"'}
    ).json()

    assert body["isAllDay"] is True
    assert body["start"] == {"dateTime": f"{day}T00:00:00.0000000", "timeZone": "Tokyo Standard Time"}


def test_bodies_are_html_unless_text_is_preferred(graph):
    fake, session, oid = graph
    start = datetime.combine(soon(), time(9))
    event_id = fake.add_event(oid, "Notes", start, start + timedelta(hours=1), description="a < b")
    url = f"{fake.base_url}/v1.0/me/events/{event_id}"

    assert session.get(url).json()["body"]["content"] == "<html><head></head><body><p>a &lt; b</p></body></html>"
    text = session.get(url, headers={"Prefer": 'outlook.body-content-type="text"'}).json()["body"]
    assert text == {"contentType": "text", "content": "a < b"}


def test_deletions_and_moves_out_of_the_window_come_as_removed(graph):
    fake, session, oid = graph
    start = datetime.combine(soon(), time(9))
    gone = fake.add_event(oid, "Gone", start, start + timedelta(hours=1))
    moved = fake.add_event(oid, "Moved", start, start + timedelta(hours=1))
    delta_link = session.get(delta_url(fake), params=window_params()).json()["@odata.deltaLink"]

    fake.delete_event(gone)
    far = start + timedelta(days=300)
    fake.update_event(moved, start=far, end=far + timedelta(hours=1))
    outside = fake.add_event(oid, "Outside", far, far + timedelta(hours=1))
    items = session.get(delta_link).json()["value"]

    assert items == [
        {"@odata.type": "#microsoft.graph.event", "id": key, "@removed": {"reason": "deleted"}}
        for key in (gone, moved, outside)
    ]


def test_a_lapsed_token_answers_410_sync_state_not_found(graph):
    fake, session, _oid = graph
    delta_link = session.get(delta_url(fake), params=window_params()).json()["@odata.deltaLink"]
    fake.expire_delta_tokens()

    response = session.get(delta_link)

    assert response.status_code == 410
    assert response.json()["error"]["code"] == "syncStateNotFound"


def test_a_round_needs_a_window(graph):
    fake, session, _oid = graph
    response = session.get(delta_url(fake))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "ErrorInvalidParameter"


def test_a_deleted_event_is_not_found(graph):
    fake, session, oid = graph
    start = datetime.combine(soon(), time(9))
    event_id = fake.add_event(oid, "Short-lived", start, start + timedelta(hours=1))
    fake.delete_event(event_id)

    response = session.get(f"{fake.base_url}/v1.0/me/events/{event_id}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ErrorItemNotFound"


def test_an_exception_keeps_the_occurrence_id_and_names_its_original_start(graph):
    fake, session, oid = graph
    day = soon()
    start = datetime.combine(day, time(9))
    master_id = fake.add_series(
        oid,
        "Standup",
        start,
        start + timedelta(minutes=15),
        {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "numbered", "numberOfOccurrences": 2}},
    )
    before = fake.occurrence_id(master_id, day)
    after = fake.update_occurrence(
        master_id,
        day,
        subject="Moved standup",
        start=datetime.combine(day, time(11)),
        end=datetime.combine(day, time(12)),
    )

    items = {item["id"]: item for item in session.get(delta_url(fake), params=window_params()).json()["value"]}

    assert before == after
    assert items[after]["type"] == "exception"
    assert items[after]["subject"] == "Moved standup"
    assert items[after]["originalStart"] == f"{day}T09:00:00Z"
    assert items[after]["start"]["dateTime"] == f"{day}T11:00:00.0000000"
