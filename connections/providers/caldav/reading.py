"""Reading a CalDAV account: its calendars (`calendars`), and the inbound event changes of one calendar
collection (`changes_since`).

Two ways to learn what changed, chosen per server and written into the cursor so a server that gains or
loses a capability is noticed:

- "sync:<token>": RFC 6578 sync-collection. One REPORT names the hrefs changed (with their etags) and
  removed (404) since the token; an empty token names every member (a full listing).
- "ctag:<ctag>": for servers without sync-collection. The collection's CalendarServer getctag (or its
  DAV:sync-token property) changes whenever a member does: unchanged means one PROPFIND and nothing else;
  changed means a PROPFIND Depth 1 of every member's etag, a full listing the sync engine sweeps.

Either way, hrefs whose etag the sync already stores are not fetched (`known`, reported `unchanged`) and
the rest are fetched with calendar-multiget, `MULTIGET_BATCH` hrefs per REPORT and one page per REPORT.

The REPORTs are issued here rather than through caldav's `objects_by_sync_token`, which hides a refused
sync-collection behind a full listing with an invented token, and whose 403 (an expired token) arrives as
an AuthorizationError without the body that tells the two apart. Requests still go through the caldav
client (authentication, the guarded session); a response hook keeps each raw response for the error
mapping and counts requests for the pages.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urljoin, urlsplit

import caldav
import icalendar
import requests
from caldav.elements import cdav, dav
from caldav.elements.base import BaseElement
from lxml import etree

from connections.providers.base import (
    AuthRevoked,
    ChangePage,
    Credentials,
    CursorExpired,
    KnownEvents,
    ProviderError,
    RemoteCalendar,
    SkippedItem,
)
from connections.providers.caldav.client import (
    CREDENTIALS_REFUSED,
    Requests,
    listing_errors,
    new_client,
    resource_id,
)
from connections.providers.http import raise_for_transient
from connections.providers.ical.parsing import parse_resource
from connections.providers.ical.tolerant import ICalendarError
from connections.providers.netguard import url_check
from connections.providers.retry import with_retries
from connections.providers.values import hex_color_or_blank

logger = logging.getLogger(__name__)

DAV = "DAV:"
CALENDARSERVER = "http://calendarserver.org/ns/"
CALDAV = "urn:ietf:params:xml:ns:caldav"


APPLE = "http://apple.com/ns/ical/"


# One PROPFIND (Depth: 1) on the calendar home answers everything the calendar chooser shows.
CALENDAR_PROPS = f"""<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="{DAV}" xmlns:c="{CALDAV}" xmlns:a="{APPLE}">
  <d:prop>
    <d:resourcetype/><d:displayname/><d:current-user-privilege-set/>
    <a:calendar-color/><c:calendar-timezone/><c:supported-calendar-component-set/>
  </d:prop>
</d:propfind>"""


WRITE_PRIVILEGES = {f"{{{DAV}}}write", f"{{{DAV}}}write-content", f"{{{DAV}}}all"}
# hrefs per calendar-multiget REPORT, and so events per page at most.
MULTIGET_BATCH = 100
# A provider id is an href (plus "#RECURRENCE-ID" for overrides); the column holds 1024 characters.
MAX_HREF_LENGTH = 1000
# RFC 6578 3.6: a server may truncate a sync report (507 on the collection) and expects the client to ask
# again with the token it got; this bounds a server that never stops doing so.
MAX_SYNC_ROUNDS = 50
SYNC_PREFIX = "sync:"
CTAG_PREFIX = "ctag:"
# Statuses with which servers refuse a sync-collection they do not (or no longer) offer: 403 with
# DAV:supported-report (Posteo, mailbox.org), 400, 405, 415 (fruux), 418 (old Nextcloud), 501.
REFUSED_REPORT = {400, 403, 405, 409, 412, 415, 418, 422, 501}


class GetCTag(BaseElement):  # CalendarServer's collection tag; caldav 1.6 has no element for it
    tag: ClassVar[str] = f"{{{CALENDARSERVER}}}getctag"


@dataclass
class CollectionState:
    """What one PROPFIND (Depth 0) says about the calendar collection."""

    # True/False when the server lists its reports (DAV:supported-report-set), None when it does not say.
    sync_collection: bool | None
    ctag: str


@dataclass
class _Member:
    href: str
    etag: str


@dataclass
class _SyncAnswer:
    changed: list[_Member] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    token: str = ""
    truncated: bool = False


class _SyncRefused(Exception):
    """The server turned down a sync-collection REPORT (as opposed to failing it)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"sync-collection refused ({status})")
        self.status = status


def calendars(credentials: Credentials) -> list[RemoteCalendar]:
    """The account's calendars: one PROPFIND (Depth: 1) on its calendar home."""
    with listing_errors("CalDAV calendar listing"):
        client = new_client(url_check(credentials.server_url), credentials.username, credentials.password or "")
        home = client.principal().calendar_home_set
        response = client.propfind(str(home.url), CALENDAR_PROPS, depth=1)
        objects = response.find_objects_and_props()
    found = []
    for href, props in objects.items():
        calendar = _remote_calendar(urljoin(str(home.url), href), props)
        if calendar is not None:
            found.append(calendar)
    return found


def changes_since(
    client: caldav.DAVClient,
    calendar: RemoteCalendar,
    cursor: str,
    known: KnownEvents,
    *,
    owner_emails: Collection[str] = (),
) -> Iterator[ChangePage]:
    """The calendar's change pages since `cursor` ("sync:..." or "ctag:..."; empty: a full listing)."""
    connection = _Connection(client, calendar.remote_id)
    reader = _Reader(connection, calendar, known, owner_emails)
    if cursor.startswith(SYNC_PREFIX):
        yield from reader.sync_pages(cursor[len(SYNC_PREFIX) :])
        return
    if cursor and not cursor.startswith(CTAG_PREFIX):
        raise CursorExpired("unknown CalDAV cursor kind")
    state = connection.collection_state()
    if state.sync_collection is not False:
        try:
            yield from reader.sync_pages("")
            return
        except _SyncRefused as refused:
            if state.sync_collection:
                logger.info("%s advertises sync-collection but refused it (%s)", calendar.remote_id, refused.status)
    previous = cursor[len(CTAG_PREFIX) :]
    if state.ctag and previous == state.ctag:
        yield ChangePage(last=True, cursor=cursor, requests=connection.take_requests())
        return
    yield from reader.listing_pages(state.ctag)


def advertises_sync_collection(supported_reports: etree._Element | None) -> bool | None:
    """Whether a DAV:supported-report-set names DAV:sync-collection (None when the server sent none)."""
    if supported_reports is None:
        return None
    return supported_reports.find(f".//{{{DAV}}}report/{{{DAV}}}sync-collection") is not None


# -- pages ---------------------------------------------------------------------------------------------


class _Reader:
    def __init__(
        self, connection: _Connection, calendar: RemoteCalendar, known: KnownEvents, owner_emails: Collection[str]
    ) -> None:
        self.connection = connection
        self.calendar = calendar
        self.known = known
        self.owner_emails = owner_emails
        self.collection_path = resource_id(urlsplit(calendar.remote_id).path).rstrip("/")

    def sync_pages(self, token: str) -> Iterator[ChangePage]:
        full = not token
        answers: list[_SyncAnswer] = []
        for _ in range(MAX_SYNC_ROUNDS):
            answer = self.connection.sync_report(token, self.collection_path)
            answers.append(answer)
            if not answer.truncated or not answer.token or answer.token == token:
                break
            token = answer.token
        cursor = f"{SYNC_PREFIX}{answers[-1].token}" if answers[-1].token else ""
        removed: list[str] = []
        changed: dict[str, _Member] = {}
        for answer in answers:  # later rounds overrule earlier ones
            for href in answer.removed:
                changed.pop(href, None)
                removed.append(href)
            for member in answer.changed:
                changed[member.href] = member
                if member.href in removed:
                    removed.remove(member.href)
        yield from self._pages(list(changed.values()), removed, cursor=cursor, full=full)

    def listing_pages(self, ctag: str) -> Iterator[ChangePage]:
        members = self.connection.members(self.collection_path)
        yield from self._pages(members, [], cursor=f"{CTAG_PREFIX}{ctag}", full=True)

    def _pages(self, members: list[_Member], removed: list[str], *, cursor: str, full: bool) -> Iterator[ChangePage]:
        batches = [members[index : index + MULTIGET_BATCH] for index in range(0, len(members), MULTIGET_BATCH)] or [[]]
        for number, batch in enumerate(batches):
            page = ChangePage(full_listing=full, removed=list(removed) if number == 0 else [])
            self._fill(page, batch)
            if number == len(batches) - 1:
                page.last = True
                page.cursor = cursor
            page.requests = self.connection.take_requests()
            yield page

    def _fill(self, page: ChangePage, batch: Sequence[_Member]) -> None:
        usable = []
        for member in batch:
            if len(member.href) > MAX_HREF_LENGTH:
                page.skipped.append(SkippedItem(member.href[:MAX_HREF_LENGTH], "resource name too long"))
            else:
                usable.append(member)
        stored = self.known([member.href for member in usable]) if usable else {}
        wanted = []
        for member in usable:
            previous = stored.get(member.href)
            if member.etag and previous is not None and previous.etag == member.etag:
                page.unchanged.append(member.href)
            else:
                wanted.append(member)
        if not wanted:
            return
        fetched = self.connection.multiget([member.href for member in wanted], self.collection_path)
        listed_etags = {member.href: member.etag for member in wanted}
        for href in listed_etags:
            if href not in fetched:
                page.skipped.append(SkippedItem(href, "the server did not return it", retry=True))
                continue
            status, etag, data = fetched[href]
            if status == 404:
                page.removed.append(href)
            elif data is None:
                page.skipped.append(SkippedItem(href, f"no calendar data (status {status})", retry=status >= 500))
            else:
                self._parse(page, href, etag or listed_etags[href], data)

    def _parse(self, page: ChangePage, href: str, etag: str, data: str) -> None:
        try:
            parsed = parse_resource(
                href, data, etag=etag, default_zone=self.calendar.timezone, owner_emails=self.owner_emails
            )
        except ICalendarError as exc:
            page.skipped.append(SkippedItem(href, str(exc)))
            return
        page.events.extend(parsed.events)
        page.removed.extend(parsed.removed)
        if parsed.events:
            page.complete_series.append(href)


# -- requests ------------------------------------------------------------------------------------------


class _Connection:
    """The requests of the sync for one calendar, each retried when transient, with their status codes read."""

    def __init__(self, client: caldav.DAVClient, calendar_url: str) -> None:
        self.requests = Requests(client)
        self.url = calendar_url

    def take_requests(self) -> int:
        return self.requests.take_count()

    def collection_state(self) -> CollectionState:
        body = _xml(dav.Propfind(), _xml(dav.Prop(), dav.SupportedReportSet(), GetCTag(), dav.SyncToken()))
        tree = self._send("PROPFIND", str(body), depth=0, what="CalDAV collection properties")
        props: dict[str, etree._Element] = {}
        for response in _responses(tree):
            for prop in _ok_props(response):
                props.setdefault(prop.tag, prop)
        ctag = _element_text(props.get(GetCTag.tag)) or _element_text(props.get(dav.SyncToken.tag))
        return CollectionState(advertises_sync_collection(props.get(dav.SupportedReportSet.tag)), ctag)

    def sync_report(self, token: str, collection_path: str) -> _SyncAnswer:
        try:
            body = _xml(
                dav.SyncCollection(),
                dav.SyncToken(value=token),
                dav.SyncLevel(value="1"),
                _xml(dav.Prop(), dav.GetEtag()),
            )
            text = str(body)
        except ValueError:  # not XML-safe text: not a token this server gave
            raise CursorExpired("the stored sync token is unusable") from None
        try:
            tree = self._send("REPORT", text, depth=0, what="CalDAV sync-collection", sync_token=token)
        except _SyncRefused:
            if token:
                raise CursorExpired("the CalDAV server no longer accepts the sync token") from None
            raise
        answer = _SyncAnswer(token=(tree.findtext(f"{{{DAV}}}sync-token") or "").strip() if tree is not None else "")
        for response in _responses(tree):
            href = _href(response)
            if href is None:
                continue
            status = _status(response.findtext(f"{{{DAV}}}status"))
            if href.rstrip("/") == collection_path:
                answer.truncated = answer.truncated or status == 507
                continue
            if status == 404:
                answer.removed.append(href)
            elif not href.endswith("/"):  # members only; sync-level 1 should send no collections anyway
                answer.changed.append(_Member(href, _etag(response)))
        return answer

    def members(self, collection_path: str) -> list[_Member]:
        body = _xml(dav.Propfind(), _xml(dav.Prop(), dav.GetEtag(), dav.ResourceType()))
        tree = self._send("PROPFIND", str(body), depth=1, what="CalDAV etag listing")
        members = []
        for response in _responses(tree):
            href = _href(response)
            if href is None or href.rstrip("/") == collection_path or href.endswith("/"):
                continue
            props = {prop.tag: prop for prop in _ok_props(response)}
            resource_type = props.get(dav.ResourceType.tag)
            if resource_type is not None and resource_type.find(f"{{{DAV}}}collection") is not None:
                continue
            if _status(response.findtext(f"{{{DAV}}}status")) == 404:
                continue
            members.append(_Member(href, _element_text(props.get(dav.GetEtag.tag))))
        return members

    def multiget(self, hrefs: Sequence[str], collection_path: str) -> dict[str, tuple[int, str, str | None]]:
        """{href: (status, etag, calendar data or None)} for the hrefs the server answered."""
        body = _xml(
            cdav.CalendarMultiGet(),
            _xml(dav.Prop(), dav.GetEtag(), cdav.CalendarData()),
            *(dav.Href(value=href) for href in hrefs),
        )
        tree = self._send("REPORT", str(body), depth=1, what="CalDAV calendar-multiget")
        found: dict[str, tuple[int, str, str | None]] = {}
        for response in _responses(tree):
            href = _href(response)
            if href is None:
                continue
            status = _status(response.findtext(f"{{{DAV}}}status"))
            props = {prop.tag: prop for prop in _ok_props(response)}
            data = props.get(cdav.CalendarData.tag)
            found[href] = (
                status or (200 if data is not None else 404),
                _element_text(props.get(dav.GetEtag.tag)),
                data.text if data is not None and data.text else None,
            )
        return found

    def _send(self, method: str, body: str, *, depth: int, what: str, sync_token: str | None = None) -> Any:
        """The parsed XML answer of one request (retried when transient); ProviderError otherwise."""
        headers = {"Depth": str(depth), "Content-Type": 'application/xml; charset="utf-8"'}

        def attempt() -> Any:
            exchange = self.requests.send(self.url, method, body, headers, what=what)
            if exchange.refused:
                return self._refused(exchange.response, what, sync_token)
            self._raise_for_status(exchange.response, what, sync_token)
            if exchange.unreadable_xml:
                raise ProviderError(f"{what}: the server's answer is not XML", permanent=True)
            return exchange.tree

        return with_retries(attempt, what=what)

    def _refused(self, response: requests.Response | None, what: str, sync_token: str | None) -> Any:
        """caldav raises AuthorizationError for 401 and 403 alike; the response tells them apart."""
        if response is not None and response.status_code == 403:
            if sync_token is not None:
                raise _SyncRefused(403)
            raise ProviderError(f"{what}: the server refused access to the calendar (403)", permanent=True)
        raise AuthRevoked(CREDENTIALS_REFUSED)

    def _raise_for_status(self, response: requests.Response | None, what: str, sync_token: str | None) -> None:
        if response is None:
            return
        raise_for_transient(response, what)
        status = response.status_code
        if status < 400:
            return
        if sync_token is not None and (status in REFUSED_REPORT or b"valid-sync-token" in response.content):
            raise _SyncRefused(status)
        if status == 404:
            raise ProviderError(f"{what}: the calendar no longer exists at the server (404)", permanent=True)
        raise ProviderError(f"{what}: the server answered {status}", permanent=True)


# -- XML -----------------------------------------------------------------------------------------------


def _xml(parent: BaseElement, *children: BaseElement) -> BaseElement:
    """A request body element with its children (lxml escapes every text value)."""
    return parent.append(list(children))


def _responses(tree: Any) -> list[etree._Element]:
    if tree is None:
        return []
    if tree.tag == f"{{{DAV}}}response":
        return [tree]
    return list(tree.iterchildren(f"{{{DAV}}}response"))


def _href(response: etree._Element) -> str | None:
    text = (response.findtext(f"{{{DAV}}}href") or "").strip()
    return resource_id(text) if text else None


def _status(text: str | None) -> int:
    """The code of a DAV:status line ("HTTP/1.1 404 Not Found"), 0 when absent or unreadable."""
    parts = (text or "").split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _ok_props(response: etree._Element) -> list[etree._Element]:
    props = []
    for propstat in response.iterchildren(f"{{{DAV}}}propstat"):
        if _status(propstat.findtext(f"{{{DAV}}}status")) not in (0, 200):
            continue
        for prop in propstat.iterchildren(f"{{{DAV}}}prop"):
            props.extend(prop.iterchildren())
    return props


def _etag(response: etree._Element) -> str:
    for prop in _ok_props(response):
        if prop.tag == dav.GetEtag.tag:
            return _element_text(prop)
    return ""


def _element_text(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


# -- the calendar listing -------------------------------------------------------------------------------


def _remote_calendar(url: str, props: dict[str, etree._Element]) -> RemoteCalendar | None:
    resource_type = props.get(f"{{{DAV}}}resourcetype")
    if resource_type is None or resource_type.find(f"{{{CALDAV}}}calendar") is None:
        return None  # the home itself, an inbox/outbox, or another collection
    components = props.get(f"{{{CALDAV}}}supported-calendar-component-set")
    if components is not None and len(components) and not any(c.get("name") == "VEVENT" for c in components):
        return None  # a task list (iCloud Reminders), not a calendar
    privileges = props.get(f"{{{DAV}}}current-user-privilege-set")
    granted = {child.tag for privilege in (privileges if privileges is not None else []) for child in privilege}
    name_element = props.get(f"{{{DAV}}}displayname")
    color_element = props.get(f"{{{APPLE}}}calendar-color")
    timezone_element = props.get(f"{{{CALDAV}}}calendar-timezone")
    return RemoteCalendar(
        remote_id=url,
        name=((name_element.text if name_element is not None else "") or _last_segment(url))[:255],
        color=hex_color_or_blank(color_element.text if color_element is not None else ""),
        timezone=_tzid(timezone_element.text if timezone_element is not None else ""),
        # No privilege set at all: the server does not say, so assume the person may write.
        read_only=privileges is not None and not (granted & WRITE_PRIVILEGES),
    )


def _tzid(vcalendar: str | None) -> str:
    if not vcalendar:
        return ""
    try:
        for component in icalendar.Calendar.from_ical(vcalendar).walk("VTIMEZONE"):
            return str(component.get("TZID", ""))[:64]
    except ValueError:
        return ""
    return ""


def _last_segment(url: str) -> str:
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or "Calendar"
