"""Google Calendar events, write side (two-way sync): events.insert with our own id, events.patch and
events.delete with If-Match, an invitation's answer, and one event's current copy.

What Google documents and this module relies on:

- An id chosen by the client (base32hex, 5-1024 characters: our 32-hex-digit key is one) makes a create
  safe to repeat: Google answers 409 `duplicate` when the id exists, deleted events included ("Version
  resources": inserts have no If-Match, but a given id succeeds only once). A repeated create reads the
  event with that id instead.
- Updates and deletes carry `If-Match: <etag>`; Google answers 412 Precondition Failed when the event has
  changed since ("Version resources", conditional modification).
- An occurrence of a series is addressed by its instance id, `<series id>_<original start>` (UTC
  `YYYYMMDDTHHMMSSZ` for timed series, `YYYYMMDD` for all-day ones); patching it makes an exception with
  `recurringEventId` and `originalStartTime`, deleting it leaves a cancelled exception.
- events.patch replaces the fields it names (arrays whole); a null removes a field, which is how an event
  changes between all-day (`date`) and timed (`dateTime` + `timeZone`).
- events.get returns deleted events too, as `status: cancelled`.
- `sendUpdates` (all / externalOnly / none) decides whether guests hear about a write.
- An exception's `originalStartTime` is immutable, and what Google does with exceptions whose original start
  is no longer an occurrence after their series moved is not documented. So a series moved in time has its
  exceptions carried along by calsync (`_series_moved`): each is written again at its moved occurrence (a
  cancelled one cancels it), and one left behind is put back as its occurrence or deleted. The result is all
  Google then holds under the series' iCalUID (events.list `iCalUID`, `showDeleted`).

The WriteResult's events go through the inbound mapping (`reading.remote_event`, with the calendar's
zone) so the next sync finds them unchanged; a cancelled occurrence is reduced to the tombstone fields an
events.list reply guarantees first, as the listing would show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrulestr

from connections.providers.base import (
    RESPONSES,
    Conflict,
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
from connections.providers.google.client import DuplicateId, call_api, send
from connections.providers.google.reading import UnusableItem, remote_event
from connections.providers.ical.series_moves import SeriesMove

# The fields an events.list reply guarantees for a cancelled exception of a series.
TOMBSTONE_FIELDS = ("kind", "etag", "id", "status", "recurringEventId", "originalStartTime")


def create_event(service: Any, calendar: RemoteCalendar, draft: EventDraft, *, key: str, notify: bool) -> WriteResult:
    body = {"id": key, **_event_body(draft, calendar, patch=False)}
    request = service.events().insert(calendarId=calendar.remote_id, body=body, sendUpdates=_send_updates(notify))
    try:
        return _result(send(request, "Google events.insert", duplicate_is_ok=True), calendar)
    except DuplicateId:
        pass
    # Our earlier attempt made it (its answer was lost): that event is the one this create made.
    made = _get(service, calendar, key)
    if made is None or made.get("status") == "cancelled":
        raise EventGone("The event calsync created at Google has been deleted there since.")
    return _result(made, calendar)


def update_event(
    service: Any, calendar: RemoteCalendar, ref: EventRef, draft: EventDraft, *, etag: str, notify: bool
) -> WriteResult:
    body = _event_body(draft, calendar, patch=True)
    if ref.is_occurrence:
        body.pop("recurrence", None)  # an exception of a series has no rule of its own
        event_id, if_match = _occurrence_target(service, calendar, ref, etag)
    else:
        event_id, if_match = _event_id(ref), etag
    series = _series_before(service, calendar, event_id, draft) if not ref.is_occurrence else None
    request = service.events().patch(
        calendarId=calendar.remote_id, eventId=event_id, body=body, sendUpdates=_send_updates(notify)
    )
    try:
        item = send(request, "Google events.patch", if_match=if_match)
    except Conflict:
        current = _get(service, calendar, event_id)
        if current is None or current.get("status") == "cancelled":
            raise EventGone("The event was deleted at Google.") from None
        if not _shows(current, draft, calendar, occurrence=ref.is_occurrence):
            raise
        # Google already has exactly this version: an earlier attempt of this update got through.
        item = current
    if item.get("status") == "cancelled":  # a deleted event takes a patch, but it stays deleted
        raise EventGone("The event was deleted at Google.")
    if series is not None:
        moved = _series_moved(service, calendar, item, series, notify)
        if moved is not None:
            return moved
    return _result(item, calendar)


def delete_event(
    service: Any, calendar: RemoteCalendar, ref: EventRef, *, etag: str, notify: bool
) -> WriteResult | None:
    if ref.is_occurrence:
        return _cancel_occurrence(service, calendar, ref, etag=etag, notify=notify)
    event_id = _event_id(ref)
    _delete(service, calendar, event_id, etag, notify)
    return None


def respond(
    service: Any, calendar: RemoteCalendar, ref: EventRef, response: str, *, etag: str, notify: bool
) -> WriteResult:
    if response not in RESPONSES:
        raise WriteRefused(f"{response!r} is not an answer to an invitation (accepted, tentative or declined).")
    if ref.is_occurrence:
        event_id, master_checked = _occurrence_target(service, calendar, ref, etag)[0], not ref.provider_event_id
    else:
        event_id, master_checked = _event_id(ref), False
    item = _get(service, calendar, event_id)
    if item is None or item.get("status") == "cancelled":
        raise EventGone("The invitation was deleted at Google.")
    attendees = [person for person in item.get("attendees") or [] if isinstance(person, Mapping)]
    if not any(person.get("self") for person in attendees):
        raise WriteRefused("You are not on this event's guest list at Google, so there is no invitation to answer.")
    if all(person.get("responseStatus") == response for person in attendees if person.get("self")):
        return _result(item, calendar)  # already answered so (an earlier attempt got through)
    if etag and not master_checked and item.get("etag") != etag:
        raise Conflict("The invitation changed at Google since calsync last saw it.")
    answered = [{**person, "responseStatus": response} if person.get("self") else dict(person) for person in attendees]
    request = service.events().patch(
        calendarId=calendar.remote_id,
        eventId=event_id,
        body={"attendees": answered},
        sendUpdates=_send_updates(notify),
    )
    # The whole guest list goes back: If-Match keeps a guest's answer that arrived meanwhile from being undone.
    return _result(send(request, "Google events.patch", if_match=str(item.get("etag") or "")), calendar)


def fetch_event(service: Any, calendar: RemoteCalendar, event_id: str) -> list[RemoteEvent]:
    item = _get(service, calendar, event_id)
    if item is None or item.get("status") == "cancelled":
        return []
    return list(_result(item, calendar).events)


def instance_id(master_id: str, original_start: EventTime) -> str:
    """Google's id for one occurrence of a series: the series' id and the original start (UTC for timed)."""
    if isinstance(original_start, datetime):
        moment = original_start if original_start.tzinfo else original_start.replace(tzinfo=UTC)
        return f"{master_id}_{moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    return f"{master_id}_{original_start:%Y%m%d}"


# --- a series moved in time -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    """A series as it was before a write: its first start and its exceptions (cancelled ones too)."""

    start: EventTime
    ical_uid: str
    exceptions: tuple[dict[str, Any], ...]


def _series_before(service: Any, calendar: RemoteCalendar, event_id: str, draft: EventDraft) -> _Series | None:
    """The series and its exceptions, when the draft moves a series in time (else None: nothing to carry)."""
    if not draft.recurrence:
        return None
    current = _get(service, calendar, event_id)
    if current is None or not current.get("recurrence") or current.get("status") == "cancelled":
        return None
    try:
        start = remote_event(current, calendar.timezone).start
    except UnusableItem:
        return None
    if SeriesMove.between(start, _in_zone(draft.start, draft, calendar)) is None:
        return None
    uid = str(current.get("iCalUID") or "")
    exceptions = tuple(item for item in _same_uid(service, calendar, uid) if item.get("recurringEventId") == event_id)
    return _Series(start, uid, exceptions)


def _series_moved(
    service: Any, calendar: RemoteCalendar, master: Mapping[str, Any], before: _Series, notify: bool
) -> WriteResult | None:
    """Carry the series' exceptions to where their occurrences went.

    Google names an exception by its occurrence's original start, which is immutable ("originalStartTime"
    in the Events reference), and does not document what becomes of exceptions whose original start is
    no longer an occurrence once the series moved. So calsync moves them itself, as the CalDAV writer moves
    RECURRENCE-IDs (`series_moves`): a cancelled occurrence cancels the moved occurrence, a changed one
    changes it (moved with the series unless it had been moved on its own), and the exception left behind
    at the old start is deleted. The result is all Google then holds for the series.
    """
    master_id = str(master["id"])
    try:
        move = SeriesMove.between(before.start, remote_event(master, calendar.timezone).start)
    except UnusableItem:
        return None
    if move is None:
        return None
    written: set[str] = set()
    for exception in before.exceptions:
        try:
            old = remote_event(exception, calendar.timezone)
        except UnusableItem:
            continue
        if old.original_start is None:
            continue
        target = instance_id(master_id, move.moved(old.original_start))
        written.add(target)
        if old.status == "cancelled":
            _delete(service, calendar, target, "", notify)
            continue
        followed = _same_time(old.start, old.original_start)
        body = {
            # What the exception leaves out stays out (a patch would take the series' value otherwise).
            "summary": old.title,
            "description": old.description,
            "location": old.location,
            **_carried(exception),
            "status": "confirmed",
            "start": _google_time(move.moved(old.start)) if followed else exception["start"],
            "end": _google_time(move.moved(old.end)) if followed else exception["end"],
        }
        request = service.events().patch(
            calendarId=calendar.remote_id,
            eventId=target,
            body=body,
            sendUpdates=_send_updates(notify),
            # Without these Google ignores the exception's meeting link and attachments in the body.
            conferenceDataVersion=1,
            supportsAttachments=True,
        )
        send(request, "Google events.patch (an exception of a moved series)")
    series = remote_event(master, calendar.timezone)
    for exception in before.exceptions:
        if exception["id"] in written:
            continue
        # Left behind: where its original start is still an occurrence of the moved series, the occurrence
        # is put back as the series has it (Google has no "undo an exception"); elsewhere it is deleted.
        original = remote_event(exception, calendar.timezone).original_start
        if original is not None and _occurs(series, original):
            _restore(service, calendar, str(exception["id"]), series, original, notify)
        elif exception.get("status") != "cancelled":
            _delete(service, calendar, str(exception["id"]), "", notify)
    events = []
    for item in _same_uid(service, calendar, before.ical_uid):
        if item.get("status") == "cancelled" and item.get("recurringEventId"):
            item = {name: item[name] for name in TOMBSTONE_FIELDS if name in item}
        with suppress(UnusableItem):
            events.append(remote_event(item, calendar.timezone))
    mapped = _result(master, calendar).events[0]
    events = [event for event in events if event.provider_event_id != master_id]
    return WriteResult(mapped.provider_event_id, mapped.etag, (mapped, *events), complete=True)


# What an exception carried to its moved occurrence does not take along: its identity and the series' (the
# new occurrence has its own), Google's bookkeeping, and what only Google sets (Events reference: read-only
# or output-only fields). Everything else (guests, reminders, colour, meeting link...) goes with it.
NOT_CARRIED = frozenset(
    {
        "kind",
        "etag",
        "id",
        "htmlLink",
        "iCalUID",
        "recurringEventId",
        "originalStartTime",
        "recurrence",
        "sequence",
        "created",
        "updated",
        "creator",
        "organizer",
        "hangoutLink",
        "privateCopy",
        "locked",
    }
)


def _carried(exception: Mapping[str, Any]) -> dict[str, Any]:
    """An exception's own fields, to write at its occurrence's new place."""
    carried = {name: value for name, value in exception.items() if name not in NOT_CARRIED}
    if carried.pop("attendeesOmitted", False):
        carried.pop("attendees", None)  # only some guests were listed: writing them would drop the others
    return carried


def _occurs(series: RemoteEvent, moment: EventTime) -> bool:
    """Whether the series (its DTSTART and RRULEs, on its own wall clock) has an occurrence at `moment`."""
    start = series.start
    wall = _wall(moment, start)
    first = _wall(start, start)
    if wall == first:
        return True
    for line in series.recurrence:
        name, _, value = line.partition(":")
        if name.upper() != "RRULE":
            continue
        try:
            rule = rrulestr(value, dtstart=first)
        except (ValueError, TypeError):
            continue
        if wall in rule:
            return True
    return False


def _wall(value: EventTime, series_start: EventTime) -> datetime:
    if not isinstance(value, datetime):
        return datetime.combine(value, datetime.min.time())
    if value.tzinfo is not None and isinstance(series_start, datetime) and series_start.tzinfo is not None:
        value = value.astimezone(series_start.tzinfo)
    return value.replace(tzinfo=None)


def _restore(
    service: Any, calendar: RemoteCalendar, event_id: str, series: RemoteEvent, original: EventTime, notify: bool
) -> None:
    """Make an exception read as its occurrence of the series again."""
    if isinstance(series.start, datetime) and isinstance(original, datetime) and series.start.tzinfo is not None:
        original = original.astimezone(series.start.tzinfo)
    length = series.end - series.start  # type: ignore[operator]  # both dates or both datetimes
    body = {
        "status": "confirmed",
        "summary": series.title,
        "description": series.description,
        "location": series.location,
        "start": _google_time(original),
        "end": _google_time(original + length),
    }
    request = service.events().patch(
        calendarId=calendar.remote_id, eventId=event_id, body=body, sendUpdates=_send_updates(notify)
    )
    send(request, "Google events.patch (an occurrence of a moved series)")


def _same_uid(service: Any, calendar: RemoteCalendar, uid: str) -> list[dict[str, Any]]:
    """Every event with this iCalUID (a series and its exceptions, deleted ones too), all pages."""
    if not uid:
        return []
    found: list[dict[str, Any]] = []
    page = None
    while True:
        params: dict[str, Any] = {"calendarId": calendar.remote_id, "iCalUID": uid, "showDeleted": True}
        if page:
            params["pageToken"] = page
        body = call_api(service.events().list(**params).execute, "Google events.list (a series)")
        found.extend(item for item in body.get("items", []) if isinstance(item, dict))
        page = body.get("nextPageToken")
        if not page:
            return found


def _google_time(value: EventTime) -> dict[str, Any]:
    if not isinstance(value, datetime):
        return {"date": value.isoformat()}
    zone = getattr(value.tzinfo, "key", None) or "UTC"
    return {"dateTime": value.isoformat(timespec="seconds"), "timeZone": zone}


def _in_zone(value: EventTime, draft: EventDraft, calendar: RemoteCalendar) -> EventTime:
    """A draft's time in the zone it is written to Google in (as `_event_time` writes it)."""
    if not isinstance(value, datetime):
        return value
    try:
        zone = ZoneInfo(draft.timezone or calendar.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return value
    return value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=zone)


# --- helpers --------------------------------------------------------------------------------------------


def _cancel_occurrence(
    service: Any, calendar: RemoteCalendar, ref: EventRef, *, etag: str, notify: bool
) -> WriteResult | None:
    try:
        event_id, if_match = _occurrence_target(service, calendar, ref, etag)
    except EventGone:
        return None  # the whole series is gone, this occurrence with it
    _delete(service, calendar, event_id, if_match, notify)
    item = _get(service, calendar, event_id)
    if item is None or item.get("status") != "cancelled" or not item.get("recurringEventId"):
        return None
    # Listed, a cancelled exception carries only its tombstone fields: map what the inbound sync will see.
    tombstone = {name: item[name] for name in TOMBSTONE_FIELDS if name in item}
    return _result(tombstone, calendar)


def _delete(service: Any, calendar: RemoteCalendar, event_id: str, etag: str, notify: bool) -> None:
    request = service.events().delete(
        calendarId=calendar.remote_id, eventId=event_id, sendUpdates=_send_updates(notify)
    )
    try:
        send(request, "Google events.delete", if_match=etag)
    except EventGone:
        return  # deleted already: what we wanted
    except Conflict:
        current = _get(service, calendar, event_id)
        if current is None or current.get("status") == "cancelled":
            return
        raise


def _occurrence_target(service: Any, calendar: RemoteCalendar, ref: EventRef, etag: str) -> tuple[str, str]:
    """The id to write for an occurrence and the etag to send with it.

    An exception has its own id and etag. An occurrence that is not one yet is written through its instance
    id, and the etag the person saw is the series': it is compared with the series' current one first (what
    an instance's own etag would be is not documented, so it is not sent).
    """
    if ref.provider_event_id:
        return ref.provider_event_id, etag
    if ref.original_start is None:
        raise WriteRefused("This occurrence does not say which date of the series it is.")
    target = instance_id(ref.master_id, ref.original_start)
    if etag:
        master = _get(service, calendar, ref.master_id)
        if master is None or master.get("status") == "cancelled":
            raise EventGone("The series was deleted at Google.")
        if master.get("etag") != etag:
            raise Conflict("The series changed at Google since calsync last saw it.")
    return target, ""


def _event_id(ref: EventRef) -> str:
    if not ref.provider_event_id:
        raise WriteRefused("This event has no Google id yet, so there is nothing to change at Google.")
    return ref.provider_event_id


def _get(service: Any, calendar: RemoteCalendar, event_id: str) -> dict[str, Any] | None:
    """The event as Google has it now (deleted ones too, as `cancelled`), or None when Google has no such id."""
    request = service.events().get(calendarId=calendar.remote_id, eventId=event_id)
    try:
        return send(request, "Google events.get")
    except EventGone:
        return None


def _result(item: Mapping[str, Any], calendar: RemoteCalendar) -> WriteResult:
    if not item.get("id"):
        raise ProviderError("Google answered a write without the event's id")
    try:
        event = remote_event(item, calendar.timezone)
    except UnusableItem as exc:
        raise ProviderError(f"Google's copy of the event cannot be read: {exc}") from None
    return WriteResult(provider_event_id=event.provider_event_id, etag=event.etag, events=(event,))


def _send_updates(notify: bool) -> str:
    return "all" if notify else "none"


def _event_body(draft: EventDraft, calendar: RemoteCalendar, *, patch: bool) -> dict[str, Any]:
    """The fields a draft sets. A patch also clears the other kind of time (null removes a field), so an
    event can change between all-day and timed."""
    body: dict[str, Any] = {
        "summary": draft.title,
        "description": draft.description,
        "location": draft.location,
        "start": _event_time(draft.start, draft, calendar, patch=patch),
        "end": _event_time(draft.end, draft, calendar, patch=patch),
    }
    if not patch:  # a new event leaves out what is empty rather than storing blanks
        body = {name: value for name, value in body.items() if value != ""}
    if draft.recurrence:
        body["recurrence"] = list(draft.recurrence)
    return body


def _event_time(value: EventTime, draft: EventDraft, calendar: RemoteCalendar, *, patch: bool) -> dict[str, Any]:
    if not isinstance(value, datetime):
        return {"date": value.isoformat(), **({"dateTime": None, "timeZone": None} if patch else {})}
    # Google needs the zone of a series to repeat it in (DST); a single event keeps it for display.
    zone_name = draft.timezone or calendar.timezone or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise WriteRefused(f"{zone_name!r} is not a time zone Google knows.") from None
    moment = value.astimezone(zone) if value.tzinfo else value.replace(tzinfo=zone)
    time = {"dateTime": moment.isoformat(timespec="seconds"), "timeZone": zone_name}
    return {**time, "date": None} if patch else time


def _shows(item: Mapping[str, Any], draft: EventDraft, calendar: RemoteCalendar, *, occurrence: bool) -> bool:
    """Whether Google's copy already is this draft (every field the draft sets)."""
    try:
        event = remote_event(item, calendar.timezone)
    except UnusableItem:
        return False
    timed = isinstance(draft.start, datetime)
    return (
        (event.title, event.description, event.location) == (draft.title, draft.description, draft.location)
        and _same_time(event.start, draft.start)
        and _same_time(event.end, draft.end)
        and (not timed or event.timezone == (draft.timezone or calendar.timezone or "UTC"))
        and (occurrence or not draft.recurrence or event.recurrence == draft.recurrence)
    )


def _same_time(ours: EventTime, theirs: EventTime) -> bool:
    # A date and a datetime never match: `datetime` is a `date`, but an all-day event is not a timed one.
    if isinstance(ours, datetime) != isinstance(theirs, datetime):
        return False
    if isinstance(ours, datetime) and isinstance(theirs, datetime) and (ours.tzinfo is None) != (theirs.tzinfo is None):
        return False
    return ours == theirs
