"""The colour a calendar is drawn in: its own (validated on the model: `#rrggbb`), or one from a palette."""

from __future__ import annotations

from connections.models import CalendarConnection

# Distinct, readable with white text, in an order that keeps neighbours apart.
PALETTE = ("#2456d6", "#0b8043", "#d50000", "#8e24aa", "#f4511e", "#039be5", "#616161", "#c0ca33", "#e67c73", "#3f51b5")


def calendar_color(calendar: CalendarConnection, index: int) -> str:
    """`index` is the calendar's position in the person's list, so calendars without a colour differ."""
    return calendar.color or PALETTE[index % len(PALETTE)]
