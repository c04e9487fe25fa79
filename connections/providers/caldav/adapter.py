"""Apple iCloud and any CalDAV server, through the caldav library over a guarded requests session.

The server URL is the person's input, so every request goes through `netguard.guarded_session()`:
HTTPS only, and never to a loopback, private, link-local or metadata address (redirects included).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import ClassVar, cast
from urllib.parse import urljoin, urlsplit

import caldav
import icalendar
import requests
from caldav.lib import error as caldav_error
from django.views.decorators.debug import sensitive_variables
from lxml import etree

from connections.providers.base import (
    AccountIdentity,
    AuthorizationFailed,
    AuthRevoked,
    ChangePage,
    Credentials,
    EventDraft,
    EventRef,
    Grant,
    KnownEvents,
    ProviderAdapter,
    ProviderError,
    RemoteCalendar,
    RemoteEvent,
    WriteResult,
)
from connections.providers.caldav import reading as caldav_events
from connections.providers.caldav.writing import CalDAVWriter
from connections.providers.http import network_failure, timeout_seconds
from connections.providers.netguard import UnresolvableHost, UnsafeURL, ca_bundle, guarded_session, url_check
from connections.providers.values import hex_color_or_blank

DAV = "DAV:"
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
ICLOUD_HOST_SUFFIX = "icloud.com"


class CalDAVAdapter(ProviderAdapter):
    provider: ClassVar[str] = "caldav"

    @sensitive_variables("password")
    def verify(self, *, server_url: str, username: str, password: str) -> Grant:
        url = url_check(server_url)
        client = _client(url, username, password)
        try:
            principal = client.principal()
        except caldav_error.AuthorizationError:
            raise AuthorizationFailed(_wrong_password_message(url)) from None
        except NotImplementedError:  # caldav's answer to Negotiate/NTLM-only servers
            raise AuthorizationFailed("That server asks for a sign-in method calsync does not support.") from None
        except UnsafeURL:
            raise  # a redirect to a refused address says so, rather than "not a CalDAV server" (a ValueError)
        except (caldav_error.DAVError, etree.XMLSyntaxError, ValueError, TypeError, KeyError):
            raise AuthorizationFailed(
                "That address answered, but not as a CalDAV server. Check the server address."
            ) from None
        except requests.RequestException as exc:
            raise AuthorizationFailed(f"We could not reach {urlsplit(url).hostname}: {network_failure(exc)}.") from None
        credentials = Credentials(server_url=url, username=username, password=password)
        return Grant(credentials=credentials, identity=AccountIdentity(external_id=str(principal.url), email=username))

    def list_calendars(self, credentials: Credentials) -> list[RemoteCalendar]:
        try:
            client = _client(url_check(credentials.server_url), credentials.username, credentials.password or "")
            home = client.principal().calendar_home_set
            response = client.propfind(str(home.url), CALENDAR_PROPS, depth=1)
            objects = response.find_objects_and_props()
        except caldav_error.AuthorizationError:
            raise AuthRevoked("the CalDAV server refused the stored password") from None
        except UnresolvableHost as exc:
            raise ProviderError(str(exc)) from None
        except UnsafeURL as exc:
            raise ProviderError(str(exc), permanent=True) from None
        except (caldav_error.DAVError, etree.XMLSyntaxError, NotImplementedError, ValueError, TypeError) as exc:
            raise ProviderError(f"CalDAV calendar listing: {type(exc).__name__}", permanent=True) from None
        except requests.RequestException as exc:
            raise ProviderError(f"CalDAV calendar listing: {network_failure(exc)}") from None
        calendars = []
        for href, props in objects.items():
            calendar = _remote_calendar(urljoin(str(home.url), href), props)
            if calendar is not None:
                calendars.append(calendar)
        return calendars

    def changes(
        self, credentials: Credentials, calendar: RemoteCalendar, cursor: str, known: KnownEvents
    ) -> Iterator[ChangePage]:
        with _connected(credentials) as client:
            yield from caldav_events.changes(client, calendar, cursor, known, owner_emails=owner_emails(credentials))

    # -- write: the server schedules by itself (RFC 6638), so `notify` has nothing to choose -------------

    def create_event(
        self, credentials: Credentials, calendar: RemoteCalendar, draft: EventDraft, *, key: str, notify: bool
    ) -> WriteResult:
        with _writer(credentials, calendar) as writer:
            return writer.create(draft, key=key)

    def update_event(
        self,
        credentials: Credentials,
        calendar: RemoteCalendar,
        ref: EventRef,
        draft: EventDraft,
        *,
        etag: str,
        notify: bool,
    ) -> WriteResult:
        with _writer(credentials, calendar) as writer:
            return writer.update(ref, draft, etag=etag)

    def delete_event(
        self, credentials: Credentials, calendar: RemoteCalendar, ref: EventRef, *, etag: str, notify: bool
    ) -> WriteResult | None:
        with _writer(credentials, calendar) as writer:
            return writer.delete(ref, etag=etag)

    def respond(
        self,
        credentials: Credentials,
        calendar: RemoteCalendar,
        ref: EventRef,
        response: str,
        *,
        etag: str,
        notify: bool,
    ) -> WriteResult:
        with _writer(credentials, calendar) as writer:
            return writer.respond(ref, response, etag=etag)

    def fetch_event(
        self, credentials: Credentials, calendar: RemoteCalendar, provider_event_id: str
    ) -> list[RemoteEvent]:
        with _writer(credentials, calendar) as writer:
            return writer.fetch(provider_event_id)


class ICloudAdapter(CalDAVAdapter):
    provider: ClassVar[str] = "icloud"


def is_icloud(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == ICLOUD_HOST_SUFFIX or host.endswith("." + ICLOUD_HOST_SUFFIX)


def owner_emails(credentials: Credentials) -> tuple[str, ...]:
    """The person's own addresses, which tell their events and their place on a guest list.

    The user name is the person's address at most servers (always at iCloud).
    """
    return (credentials.username,) if "@" in credentials.username else ()


@contextlib.contextmanager
def _connected(credentials: Credentials) -> Iterator[caldav.DAVClient]:
    """A caldav client for the stored credentials, on the guarded session."""
    try:
        url = url_check(credentials.server_url)
    except UnresolvableHost as exc:
        raise ProviderError(str(exc)) from None
    except UnsafeURL as exc:
        raise ProviderError(str(exc), permanent=True) from None
    with _client(url, credentials.username, credentials.password or "") as client:
        # Basic credentials on the first request spare the 401 round trip caldav otherwise makes on every
        # sync, so an unchanged calendar costs one request. A Digest-only server still works: caldav
        # answers its 401 by switching to the scheme the server names.
        client.auth = requests.auth.HTTPBasicAuth(credentials.username, credentials.password or "")
        yield client


@contextlib.contextmanager
def _writer(credentials: Credentials, calendar: RemoteCalendar) -> Iterator[CalDAVWriter]:
    with _connected(credentials) as client:
        yield CalDAVWriter(client, calendar, owner_emails(credentials))


def _client(url: str, username: str, password: str) -> caldav.DAVClient:
    # caldav passes `verify` with every request, which overrides the session's: give it the same bundle.
    # caldav annotates the timeout as int, but hands it to requests, which takes fractions of a second too.
    timeout = cast(int, timeout_seconds())
    client = caldav.DAVClient(
        url=url, username=username, password=password, timeout=timeout, ssl_verify_cert=ca_bundle()
    )
    client.session = guarded_session()
    return client


def _wrong_password_message(url: str) -> str:
    if is_icloud(url):
        return (
            "Apple refused the Apple ID or password. iCloud only accepts an app-specific password here: "
            "create one at appleid.apple.com under Sign-In and Security, then paste it in."
        )
    return "The server refused the user name or password."


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
