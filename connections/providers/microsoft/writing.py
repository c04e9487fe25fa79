"""Writing to an Outlook calendar through Microsoft Graph (two-way sync): the write half of MicrosoftAdapter.

- create: POST /me/calendars/{id}/events carrying `transactionId` = the write's key. Graph's event resource
  documents transactionId as the client's guard against a retried POST making the event twice: the same
  POST again answers 201 with the event the first one made; a repeat whose content differs answers 400
  ErrorDuplicateTransactionId ("...has already been used to create a different event"), and the event is
  then found with $filter=transactionId eq '{key}'. Either way a retried create returns the first event.
- update: GET the event, then PATCH /me/events/{id} with only what the draft changes, If-Match = the stored
  etag (the @odata.etag the inbound sync keeps). Sending only changes matters: a PATCH of a series' start
  or recurrence drops its exceptions in Outlook, and a text body would replace an HTML one (a Teams
  invitation's join block). 412 ErrorIrresolvableConflict is a Conflict, unless the provider's copy already
  says what the draft says (a retry of a write whose answer was lost); 404 is EventGone.
- occurrences: the instance is found with GET /me/events/{master}/instances around its original start, then
  PATCHed (it becomes an exception) or DELETEd. Graph keeps no item for a deleted occurrence; the WriteResult
  names it as the inbound sync's full listing does ("{master}#cancelled-{UTC stamp}", see reading.py).
- respond: POST /me/events/{id}/accept | tentativelyAccept | decline with sendResponse (Graph answers 202
  with no body), then GET the event for the WriteResult. Graph offers no If-Match on these actions, and an
  answer to an invitation is the person's own, so the etag is not checked.

Answers are asked for in the inbound sync's terms (reading.HEADERS: UTC times, text bodies) and mapped with
its functions (remote_single, remote_master, remote_instance), so a WriteResult carries exactly the ids,
etags and events `changes()` yields for the same state. Graph notifies attendees itself; there is nothing to choose.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from connections.providers.base import (
    Conflict,
    Credentials,
    EventDraft,
    EventGone,
    EventRef,
    EventTime,
    ProviderError,
    RemoteCalendar,
    RemoteEvent,
    WriteRefused,
    WriteResult,
)
from connections.providers.microsoft.client import (
    DuplicateTransaction,
    GraphItemNotFound,
    graph_command,
    graph_write,
)
from connections.providers.microsoft.reading import (
    CANCELLED_MARK,
    HEADERS,
    SPARSE_OCCURRENCE,
    cancelled_occurrence,
    graph_instant,
    iana_zone_name,
    remote_instance,
    remote_master,
    remote_single,
)
from connections.providers.microsoft.recurrence import (
    RuleNotExpressible,
    UnsupportedRecurrence,
    patterned_recurrence,
    rrule_line,
)

# The answers a person gives, as Graph's actions.
RESPONSE_ACTIONS = {"accepted": "accept", "tentative": "tentativelyAccept", "declined": "decline"}
# How far on either side of an occurrence's original start its instance is looked for.
INSTANCE_MARGIN = timedelta(days=1)


# --- the operations --------------------------------------------------------------------------------------


def create_event(credentials: Credentials, calendar: RemoteCalendar, draft: EventDraft, *, key: str) -> WriteResult:
    body: dict[str, Any] = {**_content(draft), **_times(draft, calendar), "transactionId": key}
    if draft.recurrence:
        body["recurrence"] = _recurrence(draft, calendar)
    path = f"/me/calendars/{_quoted(calendar.remote_id)}/events"
    try:
        item = graph_write(
            credentials, "POST", path, "Graph create event", json_body=body, headers=HEADERS, duplicate_is_ok=True
        )
    except DuplicateTransaction:
        pass
    except GraphItemNotFound:
        raise WriteRefused("This Outlook calendar no longer exists.") from None
    else:
        return _result(credentials, calendar, item)
    # The key made an event already (a retry whose draft changed meanwhile): that event is the answer.
    return _result(credentials, calendar, _created_with(credentials, calendar, key))


def update_event(
    credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, draft: EventDraft, *, etag: str
) -> WriteResult:
    if ref.is_occurrence:
        master = _existing(credentials, ref.master_id, "The Outlook series is gone.")
        if CANCELLED_MARK in ref.provider_event_id:
            raise EventGone("This occurrence was deleted in Outlook.")
        instance = _find_instance(credentials, calendar, ref, master)
        if instance is None:
            raise EventGone("This occurrence is no longer in the Outlook series.")
        return _update_instance(credentials, calendar, instance, master, draft, etag)
    if not ref.provider_event_id or CANCELLED_MARK in ref.provider_event_id:
        raise EventGone("The Outlook event is gone.")
    current = _existing(credentials, ref.provider_event_id, "The Outlook event is gone.")
    if str(current.get("type") or "") in ("occurrence", "exception"):  # named by its own id alone
        master = _existing(credentials, str(current.get("seriesMasterId") or ""), "The Outlook series is gone.")
        return _update_instance(credentials, calendar, current, master, draft, etag)
    changes = _changes(draft, _mapped(current, calendar), calendar, occurrence=False)
    item = _patch(credentials, calendar, ref.provider_event_id, draft, changes, etag)
    return _result(credentials, calendar, item)


def _update_instance(
    credentials: Credentials,
    calendar: RemoteCalendar,
    instance: Mapping[str, Any],
    master: Mapping[str, Any],
    draft: EventDraft,
    etag: str,
) -> WriteResult:
    """Change one occurrence (it becomes an exception) or an exception; the result names it with its master."""
    current = _mapped(instance, calendar, master=master)
    changes = _changes(draft, current, calendar, occurrence=True)
    item = _patch(credentials, calendar, str(instance["id"]), draft, changes, etag, master=master)
    return _result(credentials, calendar, item)


def delete_event(credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, *, etag: str) -> WriteResult | None:
    if ref.is_occurrence:
        return _cancel_occurrence(credentials, calendar, ref, etag)
    if not ref.provider_event_id or CANCELLED_MARK in ref.provider_event_id:
        return None
    _delete(credentials, ref.provider_event_id, etag)
    return None


def respond(credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, response: str) -> WriteResult:
    action = RESPONSE_ACTIONS.get(response)
    if action is None:
        raise ValueError(f"unknown response {response!r}")
    if ref.is_occurrence:
        master = _existing(credentials, ref.master_id, "The Outlook series is gone.")
        instance = _find_instance(credentials, calendar, ref, master)
        if instance is None:
            raise EventGone("This occurrence is no longer in the Outlook series.")
        target = str(instance["id"])
    elif ref.provider_event_id and CANCELLED_MARK not in ref.provider_event_id:
        target = ref.provider_event_id
    else:
        raise EventGone("The Outlook event is gone.")
    path = f"/me/events/{_quoted(target)}/{action}"
    try:
        graph_command(credentials, "POST", path, f"Graph {action}", json_body={"sendResponse": True}, headers=HEADERS)
    except GraphItemNotFound:
        raise EventGone("The Outlook event is gone.") from None
    item = _get_event(credentials, target)
    if item is None:
        # Outlook may move a declined meeting out of the calendar: nothing is left to describe.
        return WriteResult(provider_event_id=target, etag="")
    return _result(credentials, calendar, item)


def fetch_event(credentials: Credentials, calendar: RemoteCalendar, provider_event_id: str) -> list[RemoteEvent]:
    master_id, mark, stamp = provider_event_id.partition(CANCELLED_MARK)
    if mark:
        # A deleted occurrence has no item at Graph: its master says whether it is still deleted.
        master_item = _get_event(credentials, master_id)
        original = _parse_stamp(stamp)
        if master_item is None or original is None:
            return []
        master = _mapped(master_item, calendar)
        if isinstance(master.start, datetime) and isinstance(original, datetime):
            original = original.astimezone(master.start.tzinfo)
        return [cancelled_occurrence(master, original)]
    item = _get_event(credentials, provider_event_id)
    if item is None:
        return []
    return [_result(credentials, calendar, item).events[-1]]


# --- steps -----------------------------------------------------------------------------------------------


def _patch(
    credentials: Credentials,
    calendar: RemoteCalendar,
    item_id: str,
    draft: EventDraft,
    changes: dict[str, Any],
    etag: str,
    *,
    master: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """PATCH `changes` onto the item if there are any; the item as Graph now has it."""
    if not changes:
        # Outlook already says what the draft says (an earlier attempt got through): nothing to write, and
        # nothing to conflict with.
        return _existing(credentials, item_id, "The Outlook event is gone.")
    path = f"/me/events/{_quoted(item_id)}"
    try:
        return graph_write(credentials, "PATCH", path, "Graph update event", json_body=changes, headers=_headers(etag))
    except GraphItemNotFound:
        raise EventGone("The Outlook event is gone.") from None
    except Conflict:
        pass
    # 412: Outlook's copy changed since the etag. It may already say what the draft says (a retry of a
    # write whose answer was lost); otherwise the edit conflicts.
    latest = _existing(credentials, item_id, "The Outlook event is gone.")
    if not _changes(draft, _mapped(latest, calendar, master=master), calendar, occurrence=master is not None):
        return latest
    raise Conflict("The event was changed in Outlook since you edited it.")


def _delete(credentials: Credentials, item_id: str, etag: str) -> None:
    path = f"/me/events/{_quoted(item_id)}"
    try:
        graph_command(credentials, "DELETE", path, "Graph delete event", headers=_headers(etag))
    except GraphItemNotFound:
        return  # already gone, which is what was asked
    except Conflict:
        raise Conflict("The event was changed in Outlook since you deleted it here.") from None


def _cancel_occurrence(
    credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, etag: str
) -> WriteResult | None:
    master_item = _get_event(credentials, ref.master_id)
    if master_item is None:
        return None  # the whole series is gone, the occurrence with it
    if CANCELLED_MARK not in ref.provider_event_id:
        instance = _find_instance(credentials, calendar, ref, master_item)
        if instance is not None:
            _delete(credentials, str(instance["id"]), etag)
            master_item = _get_event(credentials, ref.master_id)
            if master_item is None:
                return None
        # No instance: it was deleted already (a retry whose answer was lost, or a deletion in Outlook).
    master = _mapped(master_item, calendar)
    original = ref.original_start
    if original is None:  # not an occurrence ref (is_occurrence says it is)
        return None
    if isinstance(original, datetime) and isinstance(master.start, datetime):
        original = original.astimezone(master.start.tzinfo)
    cancelled = cancelled_occurrence(master, original)
    return WriteResult(cancelled.provider_event_id, cancelled.etag, (master, cancelled))


def _find_instance(
    credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, master: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The occurrence or exception of `master` that `ref` names: by its id when known, else the instance
    whose original start (as the inbound sync reads it) is ref.original_start."""
    if ref.provider_event_id:
        item = _get_event(credentials, ref.provider_event_id)
        if item is None:
            return None  # deleted (an occurrence's id dies with it)
        if str(item.get("seriesMasterId") or "") == ref.master_id:
            return item
    original = ref.original_start
    if original is None:
        return None
    if isinstance(original, datetime):
        low, high = original - INSTANCE_MARGIN, original + INSTANCE_MARGIN
    else:
        low = datetime.combine(original, time(), UTC) - INSTANCE_MARGIN
        high = datetime.combine(original, time(), UTC) + 2 * INSTANCE_MARGIN
    params = {"startDateTime": graph_instant(low), "endDateTime": graph_instant(high)}
    for item in _listing(credentials, f"/me/events/{_quoted(ref.master_id)}/instances", params, "Graph instances"):
        try:
            candidate = remote_instance(item, master, calendar)
        except (ValueError, TypeError, KeyError):
            continue
        if candidate.original_start == original:
            return item
    return None


def _created_with(credentials: Credentials, calendar: RemoteCalendar, key: str) -> dict[str, Any]:
    params = {"$filter": f"transactionId eq '{key}'"}
    path = f"/me/calendars/{_quoted(calendar.remote_id)}/events"
    for item in _listing(credentials, path, params, "Graph events by transactionId"):
        if item.get("transactionId") == key:
            return item
    # Graph says the key is taken but lists no event with it yet (its search lags the store): ask again later.
    raise ProviderError("Graph reported the event as created but does not list it yet")


def _result(credentials: Credentials, calendar: RemoteCalendar, item: Mapping[str, Any]) -> WriteResult:
    """The WriteResult for an item Graph returned: a single event or master alone; an occurrence or exception
    with its master as Graph has it after the write (the inbound sync passes both on)."""
    if str(item.get("type") or "") in ("occurrence", "exception"):
        master_item = _existing(credentials, str(item.get("seriesMasterId") or ""), "The Outlook series is gone.")
        master = _mapped(master_item, calendar)
        event = _mapped(item, calendar, master=master_item)
        return WriteResult(event.provider_event_id, event.etag, (master, event))
    event = _mapped(item, calendar)
    return WriteResult(event.provider_event_id, event.etag, (event,))


# --- the draft in Graph's terms --------------------------------------------------------------------------


def _changes(draft: EventDraft, current: RemoteEvent, calendar: RemoteCalendar, *, occurrence: bool) -> dict[str, Any]:
    """The PATCH body that makes `current` say what `draft` says: only what differs."""
    changes: dict[str, Any] = {}
    content = _content(draft)
    if draft.title != current.title:
        changes["subject"] = content["subject"]
    if draft.description != current.description:
        changes["body"] = content["body"]
    if draft.location != current.location:
        changes["location"] = content["location"]
    times = _times(draft, calendar)
    start, end = _draft_times(draft, calendar)
    moved = start != current.start or end != current.end
    rezoned = (
        isinstance(start, datetime)
        and bool(draft.timezone)
        and iana_zone_name(draft.timezone) not in (None, current.timezone)
    )
    if moved or rezoned:
        if occurrence:
            if _all_day(draft) != (not isinstance(current.start, datetime)):
                raise WriteRefused("Outlook cannot make one occurrence of a series all-day (or timed) on its own.")
            times.pop("isAllDay")
        changes.update(times)
    if occurrence:
        return changes
    if draft.recurrence:
        wanted = _recurrence(draft, calendar)
        if moved or rezoned or (_rule_line(wanted, draft, calendar),) != current.recurrence[:1]:
            changes["recurrence"] = wanted
    elif current.recurrence:
        changes["recurrence"] = None
    return changes


def _content(draft: EventDraft) -> dict[str, Any]:
    return {
        "subject": draft.title,
        "body": {"contentType": "text", "content": draft.description},
        "location": {"displayName": draft.location},
    }


def _all_day(draft: EventDraft) -> bool:
    return not isinstance(draft.start, datetime)


def _zone_name(draft: EventDraft, calendar: RemoteCalendar) -> str:
    """The IANA zone a draft is written in: its own, else the calendar's, else UTC. All-day events need one
    too (Graph keeps them as midnights in a zone); Graph takes IANA names."""
    for candidate in (draft.timezone, calendar.timezone):
        name = iana_zone_name(candidate) if candidate else None
        if name:
            return name
    return "UTC"


def _draft_times(draft: EventDraft, calendar: RemoteCalendar) -> tuple[EventTime, EventTime]:
    start, end = draft.start, draft.end
    if not isinstance(start, datetime):
        if isinstance(end, datetime):
            raise WriteRefused("An all-day event needs dates for both its start and its end.")
        return start, end
    if not isinstance(end, datetime):
        raise WriteRefused("A timed event needs times for both its start and its end.")
    zone = ZoneInfo(_zone_name(draft, calendar))
    # A floating time is read in the draft's zone.
    return (start if start.tzinfo else start.replace(tzinfo=zone)), (end if end.tzinfo else end.replace(tzinfo=zone))


def _times(draft: EventDraft, calendar: RemoteCalendar) -> dict[str, Any]:
    """isAllDay, start and end as Graph's dateTimeTimeZone: wall-clock times in the draft's zone, midnights
    for all-day events."""
    zone_name = _zone_name(draft, calendar)
    start, end = _draft_times(draft, calendar)
    if isinstance(start, datetime) and isinstance(end, datetime):
        zone = ZoneInfo(zone_name)
        wall_start, wall_end = start.astimezone(zone), end.astimezone(zone)
        return {
            "isAllDay": False,
            "start": {"dateTime": f"{wall_start:%Y-%m-%dT%H:%M:%S}", "timeZone": zone_name},
            "end": {"dateTime": f"{wall_end:%Y-%m-%dT%H:%M:%S}", "timeZone": zone_name},
        }
    return {
        "isAllDay": True,
        "start": {"dateTime": f"{start:%Y-%m-%d}T00:00:00", "timeZone": zone_name},
        "end": {"dateTime": f"{end:%Y-%m-%d}T00:00:00", "timeZone": zone_name},
    }


def _recurrence(draft: EventDraft, calendar: RemoteCalendar) -> dict[str, Any]:
    start, _ = _draft_times(draft, calendar)
    try:
        return patterned_recurrence(draft.recurrence, start, _zone_name(draft, calendar))
    except RuleNotExpressible as exc:
        raise WriteRefused(str(exc)) from None


def _rule_line(recurrence: Mapping[str, Any], draft: EventDraft, calendar: RemoteCalendar) -> str:
    """The RRULE the inbound sync will read back from `recurrence`, to compare with the stored one."""
    zone = None if _all_day(draft) else ZoneInfo(_zone_name(draft, calendar))
    return rrule_line(recurrence, zone=zone)


# --- Graph -----------------------------------------------------------------------------------------------


def _headers(etag: str) -> dict[str, str]:
    """The inbound sync's headers, with If-Match when there is an etag to send."""
    return {**HEADERS, **({"If-Match": etag} if etag else {})}


def _get_event(credentials: Credentials, item_id: str) -> dict[str, Any] | None:
    if not item_id:
        return None
    try:
        return graph_write(credentials, "GET", f"/me/events/{_quoted(item_id)}", "Graph event", headers=HEADERS)
    except GraphItemNotFound:
        return None


def _existing(credentials: Credentials, item_id: str, gone: str) -> dict[str, Any]:
    item = _get_event(credentials, item_id)
    if item is None:
        raise EventGone(gone)
    return item


def _listing(credentials: Credentials, path: str, params: dict[str, str], what: str) -> Iterator[dict[str, Any]]:
    url = path
    query: dict[str, str] | None = params
    while True:
        page = graph_write(credentials, "GET", url, what, params=query, headers=HEADERS)
        yield from (item for item in page.get("value", []) if isinstance(item, dict))
        next_link = page.get("@odata.nextLink")
        if not next_link:
            return
        url, query = str(next_link), None  # graph_request follows links to Graph itself only


def _mapped(
    item: Mapping[str, Any], calendar: RemoteCalendar, *, master: Mapping[str, Any] | None = None
) -> RemoteEvent:
    """An item as the inbound sync maps it."""
    kind = str(item.get("type") or "singleInstance")
    try:
        if kind == "seriesMaster":
            return remote_master(item, calendar)
        if kind == "occurrence" and master is not None:
            sparse = {key: value for key, value in item.items() if key in SPARSE_OCCURRENCE}
            return remote_instance(sparse, master, calendar)
        if kind == "exception" and master is not None:
            return remote_instance(item, master, calendar)
        return remote_single(item, calendar)
    except (ValueError, TypeError, KeyError, UnsupportedRecurrence) as exc:
        raise ProviderError(f"Graph returned an event calsync cannot read: {exc}", permanent=True) from None


def _quoted(item_id: str) -> str:
    return quote(item_id, safe="")


def _parse_stamp(stamp: str) -> EventTime | None:
    """The original start in a cancelled occurrence's made-up id: 20250107 or 20250107T080000Z."""
    try:
        if len(stamp) == 8:
            return date(int(stamp[:4]), int(stamp[4:6]), int(stamp[6:]))
        return datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
