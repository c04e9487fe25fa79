"""Filters and tags for the week view and event details: times in the viewer's zone, and provider-sent
fields made safe to show (links only over https, text escaped, long text cut)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlencode, urlsplit

from django import template
from django.urls import reverse
from django.utils.html import urlize
from django.utils.safestring import SafeString, mark_safe

from events.models import CalendarEvent
from events.recurrence import zone_or_none
from events.selectors import Occurrence, shown_instant

register = template.Library()

# A description longer than this is cut in the panel (the stored one is whole): a megabyte of text would
# cost the page, and making links in it more.
MAX_SHOWN_DESCRIPTION = 20_000
MAX_SHOWN_ATTENDEES = 200
DASH = "\u2013"  # the en dash of time ranges
RESPONSES = {"accepted": "Going", "declined": "Not going", "tentative": "Maybe"}


@register.filter
def get(mapping: dict[Any, Any], key: Any) -> Any:
    return mapping.get(key, "")


@register.filter
def add_days(day: date, days: int) -> date:
    return day + timedelta(days=int(days))


@register.simple_tag
def event_url(occurrence: Occurrence) -> str:
    """The details of an event; for an occurrence of a series, which one (its start)."""
    url = reverse("event_detail", kwargs={"event_id": occurrence.event.pk})
    if occurrence.recurrence_id is not None:
        url += "?" + urlencode({"at": occurrence.recurrence_id.isoformat()})
    return url


@register.simple_tag
def event_when(event: CalendarEvent, start: datetime, end: datetime, zone: tzinfo) -> str:
    if event.all_day:
        first, last = _date(start), _date(end) - timedelta(days=1)
        if last <= first:
            return f"{first:%A} {first.day} {first:%B %Y}, all day"
        return f"{first:%a} {first.day} {first:%b} {DASH} {last:%a} {last.day} {last:%b %Y}, all day"
    shown_start, shown_end = _wall(event, start, zone), _wall(event, end, zone)
    day = f"{shown_start:%A} {shown_start.day} {shown_start:%B %Y}"
    if shown_end.date() == shown_start.date():
        return f"{day}, {shown_start:%H:%M} {DASH} {shown_end:%H:%M}"
    return f"{day} {shown_start:%H:%M} {DASH} {shown_end:%a} {shown_end.day} {shown_end:%b} {shown_end:%H:%M}"


@register.simple_tag
def own_zone_when(event: CalendarEvent, start: datetime, end: datetime, zone: tzinfo) -> str:
    """The time in the event's own zone, when it differs from the viewer's at that moment."""
    own = zone_or_none(event.timezone) if not event.all_day else None
    start, end = shown_instant(start), shown_instant(end)
    if own is None or start.astimezone(own).utcoffset() == start.astimezone(zone).utcoffset():
        return ""
    local_start, local_end = start.astimezone(own), end.astimezone(own)
    return f"{local_start:%a} {local_start:%H:%M} {DASH} {local_end:%H:%M} in {event.timezone}"


def _date(moment: datetime) -> date:
    return shown_instant(moment).astimezone(UTC).date()  # all-day rows keep their dates as midnight UTC


def _wall(event: CalendarEvent, moment: datetime, zone: tzinfo) -> datetime:
    moment = shown_instant(moment)
    if not event.timezone:  # floating: the same wall clock everywhere
        return moment.astimezone(UTC).replace(tzinfo=None)
    return moment.astimezone(zone)


def safe_link(value: Any) -> str:
    """An https URL fit for an href, or "" (a provider could send `javascript:` or worse)."""
    if not isinstance(value, str) or len(value) > 2000:
        return ""
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return ""
    if parts.scheme != "https" or not parts.hostname or any(ch in value for ch in "\r\n\t <>\"'"):
        return ""
    return value.strip()


@register.filter
def join_url(metadata: Any) -> str:
    return safe_link(metadata.get("conference_url")) if isinstance(metadata, dict) else ""


@register.filter
def provider_link(metadata: Any) -> str:
    return safe_link(metadata.get("html_link")) if isinstance(metadata, dict) else ""


@register.filter
def url_host(url: str) -> str:
    return urlsplit(url).hostname or ""


@dataclass(frozen=True)
class Attendee:
    label: str
    response: str
    response_label: str
    optional: bool


@register.filter
def attendees(metadata: Any) -> list[Attendee]:
    people = metadata.get("attendees") if isinstance(metadata, dict) else None
    if not isinstance(people, list):
        return []
    shown = []
    for person in people[:MAX_SHOWN_ATTENDEES]:
        if not isinstance(person, dict):
            continue
        email, name = str(person.get("email") or ""), str(person.get("name") or "")
        response = str(person.get("response") or "")
        label = f"{name} <{email}>" if name and email else name or email
        if not label:
            continue
        known = response if response in RESPONSES else "none"
        shown.append(
            Attendee(label[:300], known, RESPONSES.get(response, "Not answered"), bool(person.get("optional")))
        )
    return shown


@register.filter
def shown_description(text: str) -> SafeString:
    """Escaped text with its web links made clickable and its line breaks kept."""
    cut = len(text) > MAX_SHOWN_DESCRIPTION
    shown = urlize(text[:MAX_SHOWN_DESCRIPTION], nofollow=True, autoescape=True)
    shown = shown.replace("\r\n", "\n").replace("\n", "<br>")
    if cut:
        shown += '<br><span class="muted">… (cut here; the whole description is at the provider)</span>'
    return mark_safe(shown)  # noqa: S308  # nosec B308  # urlize escaped every character of the text
