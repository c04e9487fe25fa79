"""What a sync could not read stays listed on its calendar (events.UnreadableItem) until a later sync reads it
or the provider removes it, through the loopback Google and Graph fakes and a real Radicale; and the pages
say so instead of a plain "Synced"."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, time, timedelta

import pytest
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils.timezone import now

from connections.models import CalendarConnection, SyncState
from connections.selectors import UNREADABLE_LISTED
from events.models import CalendarEvent, SyncOutcome, UnreadableItem
from events.sync import sync_connection
from tests.factories import make_account, make_connection
from tests.sync_helpers import google_calendar, graph_calendar
from tests.system import test_faults
from tests.system.test_faults import first_day

pytestmark = pytest.mark.django_db(transaction=True)  # the sync commits page by page


def sync(calendar: CalendarConnection, **options):
    result = sync_connection(connection=CalendarConnection.objects.get(pk=calendar.pk), **options)
    calendar.refresh_from_db()
    assert result.outcome == SyncOutcome.OK, result.error
    return result


def unreadable(calendar: CalendarConnection) -> dict[str, str]:
    return dict(UnreadableItem.objects.filter(connection=calendar).values_list("provider_item_id", "reason"))


def first_seen(calendar: CalendarConnection, item: str) -> datetime:
    return UnreadableItem.objects.get(connection=calendar, provider_item_id=item).first_seen_at


# --- CalDAV, against Radicale -------------------------------------------------------------------------------

# Radicale refuses to store what calsync cannot read, so another client's broken write comes from the proxy in
# front of it (fakes/caldav_proxy.py), as in tests/system/test_faults.py, whose CalDAV calendar this borrows.
radicale, side = test_faults.radicale, test_faults.side
quick_retries = test_faults.quick_retries


def break_resource(side, key: str) -> None:
    side.fake.malformed[key] = side.resources[key].text()[:200]  # another client's write, cut short


@pytest.mark.parametrize("side", ["caldav"], indirect=True)
def test_a_caldav_resource_that_cannot_be_read_stays_listed_until_it_is_fixed_or_deleted(side):
    broken, lost = side.add("Broken", first_day(), 9), side.add("Lost", first_day(), 11)
    side.add("Fine", first_day(), 13)
    break_resource(side, broken)
    break_resource(side, lost)
    result = side.sync()
    assert (result.outcome, result.skipped) == (SyncOutcome.OK, 2)
    calendar = side.connection
    items = unreadable(calendar)
    assert set(items) == {broken, lost}
    assert any(note == f"{broken}: {items[broken]}" for note in result.notes), result.notes
    since = first_seen(calendar, broken)

    # Another client changes something else: the incremental sync does not touch the broken ones.
    side.add("Other", first_day(), 15)
    result = side.sync()
    assert (result.outcome, result.full, result.created, result.skipped) == (SyncOutcome.OK, False, 1, 0)
    assert set(unreadable(calendar)) == {broken, lost} and first_seen(calendar, broken) == since

    # One is written again whole: read, stored, and no longer listed. The other is deleted.
    del side.fake.malformed[broken]
    side.edit(broken, title="Broken (fixed)")
    side.delete(lost)
    result = side.sync()
    assert (result.outcome, result.created) == (SyncOutcome.OK, 1)
    assert CalendarEvent.objects.filter(provider_event_id=broken, deleted_at__isnull=True).exists()
    assert unreadable(calendar) == {}


@pytest.mark.parametrize("side", ["caldav"], indirect=True)
def test_a_full_listing_forgets_unreadable_items_the_server_no_longer_has(side):
    broken = side.add("Broken", first_day(), 9)
    side.add("Fine", first_day(), 11)
    break_resource(side, broken)
    assert side.sync().outcome == SyncOutcome.OK
    assert set(unreadable(side.connection)) == {broken}
    side.delete(broken)
    side.expire_cursor()  # Radicale forgets the token, and with it the deletion: only a full listing tells
    result = side.sync()
    assert (result.outcome, result.full) == (SyncOutcome.OK, True)
    assert unreadable(side.connection) == {}


# --- Google -------------------------------------------------------------------------------------------------


@pytest.fixture
def google(fake_google, settings):
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    return fake_google


@pytest.fixture
def primary(owner, google) -> CalendarConnection:
    return google_calendar(owner, google)


def google_event(summary: str, day: int) -> dict:
    return {
        "summary": summary,
        "start": {"dateTime": f"2025-01-{day:02d}T09:00:00+01:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": f"2025-01-{day:02d}T10:00:00+01:00", "timeZone": "Europe/Berlin"},
    }


def test_a_google_event_that_cannot_be_stored_stays_listed_until_it_is_readable_or_cancelled(google, primary):
    google.put_event(primary.remote_id, {"id": "nostart", "summary": "No start"})
    google.put_event(primary.remote_id, {"id": "nostart2", "summary": "No start either"})
    google.put_event(primary.remote_id, google_event("Fine", 7))
    assert sync(primary).skipped == 2
    assert set(unreadable(primary)) == {"nostart", "nostart2"}
    since = first_seen(primary, "nostart")

    google.put_event(primary.remote_id, google_event("Other", 8))
    result = sync(primary)
    assert (result.full, result.created, result.skipped) == (False, 1, 0)
    assert set(unreadable(primary)) == {"nostart", "nostart2"} and first_seen(primary, "nostart") == since

    fixed = google_event("Fixed", 9)
    google.patch_event(primary.remote_id, "nostart", start=fixed["start"], end=fixed["end"])
    google.cancel_event(primary.remote_id, "nostart2")
    result = sync(primary)
    assert result.created == 1 and CalendarEvent.objects.filter(provider_event_id="nostart").exists()
    assert unreadable(primary) == {}


def test_a_full_listing_that_names_an_item_calsync_cannot_store_keeps_it_listed(google, primary):
    overlong = "x" * 1100  # more than an event id calsync stores: refused by the mapping, not the provider
    google.put_event(primary.remote_id, {**google_event("Overlong", 6), "id": overlong})
    google.put_event(primary.remote_id, google_event("Fine", 7))
    sync(primary)
    assert set(unreadable(primary)) == {overlong[:1024]}
    result = sync(primary, full=True)
    assert result.full
    assert set(unreadable(primary)) == {overlong[:1024]}  # named by the listing: still there, still unreadable


def test_an_item_unreadable_again_keeps_when_it_was_first_seen_and_takes_the_new_reason(google, primary):
    google.put_event(primary.remote_id, {"id": "odd", "summary": "No start"})
    sync(primary)
    since = first_seen(primary, "odd")
    google.patch_event(primary.remote_id, "odd", summary="Still no start")
    sync(primary)
    item = UnreadableItem.objects.get(connection=primary)
    assert item.first_seen_at == since and item.last_seen_at > since


# --- Graph --------------------------------------------------------------------------------------------------


@pytest.fixture
def outlook(owner, fake_microsoft, settings) -> tuple[CalendarConnection, str]:
    settings.PROVIDER_RETRY_BASE_SECONDS = 0.001
    person = fake_microsoft.add_user("olive@contoso.com")
    calendar = graph_calendar(owner, fake_microsoft, person)
    return calendar, person.oid


def soon(days: int, hour: int = 9) -> datetime:
    return datetime.combine(datetime.now(UTC).date() + timedelta(days=days), time(hour))


def test_a_graph_item_that_cannot_be_read_stays_listed_until_it_is_readable_or_deleted(fake_microsoft, outlook):
    calendar, oid = outlook
    # An occurrence without its series: nothing to hang it on.
    orphan = fake_microsoft.add_event(oid, "Orphan", soon(3), soon(3, 10), type="occurrence")
    lost = fake_microsoft.add_event(oid, "Lost", soon(4), soon(4, 10), type="occurrence")
    fake_microsoft.add_event(oid, "Fine", soon(5), soon(5, 10))
    assert sync(calendar).skipped == 2
    assert unreadable(calendar) == {
        orphan: "occurrence without a seriesMasterId",
        lost: "occurrence without a seriesMasterId",
    }

    fake_microsoft.add_event(oid, "Other", soon(6), soon(6, 10))
    result = sync(calendar)
    assert (result.full, result.created, result.skipped) == (False, 1, 0)
    assert set(unreadable(calendar)) == {orphan, lost}

    fake_microsoft.update_event(orphan, type="singleInstance")
    fake_microsoft.delete_event(lost)
    result = sync(calendar)
    assert result.created == 1 and CalendarEvent.objects.filter(provider_event_id=orphan).exists()
    assert unreadable(calendar) == {}


# --- what the pages say -------------------------------------------------------------------------------------


def calendar_with_unreadable(owner, name: str, count: int, *, account=None) -> CalendarConnection:
    calendar = make_connection(
        account or make_account(owner, external_id=secrets.token_hex(4)),
        name=name,
        remote_id=secrets.token_hex(6),
        sync_status=SyncState.OK,
        last_synced_at=now() - timedelta(minutes=3),
    )
    for number in range(count):
        UnreadableItem.objects.create(
            connection=calendar, provider_item_id=f"/cal/item-{number}.ics", reason=f"reason <{number}>"
        )
    return calendar


def test_the_connections_page_lists_unreadable_items_with_their_reasons_not_plain_synced(owner_client, owner):
    calendar_with_unreadable(owner, "Broken bits", 2)
    calendar_with_unreadable(owner, "Fine", 0)
    page = owner_client.get(reverse("connections")).content.decode()
    assert "ago</time> — 2 items could not be read</span>" in page
    assert "<summary>2 items could not be read</summary>" in page
    assert "/cal/item-0.ics</bdi>: reason &lt;0&gt;" in page and "/cal/item-1.ics</bdi>: reason &lt;1&gt;" in page
    assert page.count("ago</time></span>") == 1  # the other calendar reads plain "Synced"


def test_the_connections_page_lists_a_few_unreadable_items_and_counts_the_rest(owner_client, owner):
    calendar_with_unreadable(owner, "Many", UNREADABLE_LISTED + 5)
    page = owner_client.get(reverse("connections")).content.decode()
    assert page.count('<bdi class="unreadable-id">') == UNREADABLE_LISTED
    assert "and 5 more" in page and f"{UNREADABLE_LISTED + 5} items could not be read" in page


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(db_connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_connections_page_costs_the_same_queries_for_one_calendar_and_for_many(owner_client, owner):
    calendar_with_unreadable(owner, "First", 1)
    one = count_queries(owner_client, reverse("connections"))
    account = make_account(owner, external_id="second")
    for number in range(6):
        calendar_with_unreadable(owner, f"More {number}", number, account=account if number % 2 else None)
    assert count_queries(owner_client, reverse("connections")) == one


def test_the_week_says_which_calendars_have_unreadable_items(owner_client, owner):
    calendar_with_unreadable(owner, "Broken bits", 3)
    calendar_with_unreadable(owner, "Fine", 0)
    page = owner_client.get("/").content.decode()
    assert "3 items could not be read</a>" in page and "some items could not be read" in page
    assert "all well" not in page
