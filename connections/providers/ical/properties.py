"""Reading the values of iCalendar properties as icalendar hands them over, none of them trusted.

icalendar gives a property as one value, a list of them, or None; a value it could not read is a vBroken,
which raises on `.dt`. These helpers turn each into what the reader wants, and are shared by parsing,
time zones, editing and series moves.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from icalendar.prop import vBroken

from connections.providers.base import EventTime


def first_value(value: Any) -> Any:
    return value[0] if isinstance(value, list) else value


def readable_value(value: Any) -> Any:
    """The first value, or None when there is none or it could not be read (a vBroken raises on `.dt`)."""
    value = first_value(value)
    return None if isinstance(value, vBroken) else value


def as_list(value: Any) -> list[Any]:
    """A property's values as a list: icalendar gives one value, a list of them, or None."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def readable_time(prop: Any) -> EventTime | None:
    """The date or date-time of a DTSTART-like property (the first, if repeated); None when it is missing or
    could not be read (icalendar raises on a broken value's `.dt`)."""
    value = getattr(readable_value(prop), "dt", None)
    return value if isinstance(value, date) else None


def property_text(value: Any) -> str:
    """A property's (first) value as text; "" when missing or unreadable."""
    value = first_value(value)
    if value is None or isinstance(value, vBroken):
        return ""
    # PostgreSQL text cannot hold NUL.
    return str(value).replace("\x00", "")


def quoted(value: Any) -> str:
    return repr(property_text(value)[:64])


def property_params(value: Any) -> Any:
    return getattr(value, "params", {}) or {}


def calendar_address(address: Any) -> str:
    """The email address of an ORGANIZER or ATTENDEE property, as the parser reads it ("" when none)."""
    value = property_text(address).strip()
    if value.lower().startswith("mailto:"):
        return value[len("mailto:") :].strip()
    email = property_text(property_params(address).get("EMAIL")).strip()
    if email:
        return email
    return value if "@" in value and ":" not in value else ""


def time_kind(value: EventTime) -> str:
    """The kind of time a value is: "date", "floating" or "aware"."""
    if not isinstance(value, datetime):
        return "date"
    return "floating" if value.tzinfo is None else "aware"
