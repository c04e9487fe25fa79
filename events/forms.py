"""The event form of the week view (create, edit, move to another calendar), producing an EventDraft.

Times are entered as a date and a wall-clock time in a chosen zone (the person's by default); an all-day
event takes dates only, its last day inclusive as people say it ("the 4th to the 6th").
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any, cast

from django import forms
from django.core.exceptions import ValidationError

from connections.models import CalendarConnection
from connections.providers.base import EventDraft
from events.models import ChangeScope

FIRST_YEAR, LAST_YEAR = 1900, 2200
MAX_TITLE = 1000
MAX_LOCATION = 2000
MAX_DESCRIPTION = 100_000
LONGEST_EVENT = timedelta(days=366 * 5)
TIME = {"type": "time"}
FLOATING = ("", "Floating: the same clock time in every zone")

# "This and following" is offered where the series can be cut at the occurrence.
SCOPE_CHOICES = [
    (ChangeScope.OCCURRENCE, "This occurrence"),
    ("following", "This and following occurrences"),
    (ChangeScope.EVENT, "All occurrences"),
]


class CalendarChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: CalendarConnection) -> str:
        return f"{obj.name} ({obj.account.get_provider_display()})"


class EventForm(forms.Form):
    title = forms.CharField(label="Title", max_length=MAX_TITLE, required=False)
    calendar = CalendarChoiceField(label="Calendar", queryset=CalendarConnection.objects.none(), empty_label=None)
    all_day = forms.BooleanField(label="All day", required=False)
    start_date = forms.DateField(label="Starts", widget=forms.DateInput(attrs={"type": "date"}))
    start_time = forms.TimeField(label="at", required=False, widget=forms.TimeInput(format="%H:%M", attrs=TIME))
    end_date = forms.DateField(label="Ends", widget=forms.DateInput(attrs={"type": "date"}))
    end_time = forms.TimeField(label="at", required=False, widget=forms.TimeInput(format="%H:%M", attrs=TIME))
    timezone = forms.ChoiceField(label="Time zone", required=False)
    location = forms.CharField(label="Where", max_length=MAX_LOCATION, required=False)
    description = forms.CharField(
        label="Description", max_length=MAX_DESCRIPTION, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    scope = forms.ChoiceField(label="Change", choices=SCOPE_CHOICES, required=False, widget=forms.RadioSelect)
    notify = forms.BooleanField(label="Email the guests about this change", required=False)

    def __init__(
        self,
        *args: Any,
        calendars: list[CalendarConnection],
        series: bool = False,
        can_notify: bool = False,
        floating: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        field = cast(CalendarChoiceField, self.fields["calendar"])
        field.queryset = CalendarConnection.objects.filter(pk__in=[calendar.pk for calendar in calendars])
        zones = [(name, name.replace("_", " ")) for name in sorted(zoneinfo.available_timezones())]
        # An event written in no zone (CalDAV allows it) keeps its clock time wherever it is seen.
        self.floating = floating
        cast(forms.ChoiceField, self.fields["timezone"]).choices = [*([FLOATING] if floating else []), *zones]
        if not series:
            del self.fields["scope"]
        if not can_notify:
            del self.fields["notify"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start_day, end_day = data.get("start_date"), data.get("end_date")
        if not isinstance(start_day, date) or not isinstance(end_day, date):
            return data
        for name, day in (("start_date", start_day), ("end_date", end_day)):
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                self.add_error(name, f"Choose a date between {FIRST_YEAR} and {LAST_YEAR}.")
        if self.errors:
            return data
        if data.get("all_day"):
            if end_day < start_day:
                self.add_error("end_date", "The event must end on or after the day it starts.")
            return data
        zone_name = str(data.get("timezone") or "")
        if not zone_name and not self.floating:
            self.add_error("timezone", "Choose a time zone.")
            return data
        if data.get("start_time") is None:
            self.add_error("start_time", "Enter a start time, or tick “All day”.")
        if data.get("end_time") is None:
            self.add_error("end_time", "Enter an end time, or tick “All day”.")
        if self.errors:
            return data
        start, end = self._instants(data)
        if end < start:
            self.add_error("end_time", "The event must end after it starts.")
        elif end - start > LONGEST_EVENT:
            self.add_error("end_date", "An event can last at most five years.")
        return data

    def draft(self, *, recurrence: tuple[str, ...] = ()) -> EventDraft:
        data = self.cleaned_data
        common = {
            "title": data["title"].strip(),
            "location": data["location"].strip(),
            "description": data["description"],
            "recurrence": recurrence,
        }
        if data.get("all_day"):
            # The form's last day is inclusive; iCalendar's end is the day after.
            return EventDraft(start=data["start_date"], end=data["end_date"] + timedelta(days=1), **common)
        start, end = self._instants(data)
        return EventDraft(start=start, end=end, timezone=data["timezone"] or "", **common)

    @staticmethod
    def _instants(data: dict[str, Any]) -> tuple[datetime, datetime]:
        if not data.get("timezone"):  # floating: wall-clock times in no zone
            start = datetime.combine(data["start_date"], data["start_time"] or time())
            return start, datetime.combine(data["end_date"], data["end_time"] or time())
        zone = zoneinfo.ZoneInfo(data["timezone"])
        start = datetime.combine(data["start_date"], data["start_time"] or time(), tzinfo=zone)
        end = datetime.combine(data["end_date"], data["end_time"] or time(), tzinfo=zone)
        # A wall time that does not exist (a DST gap) is read as the instant it would have been.
        return _normalised(start), _normalised(end)


def _normalised(moment: datetime) -> datetime:
    zone = moment.tzinfo
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(zone)


def initial_for(
    *,
    calendar: CalendarConnection | None,
    start: datetime,
    end: datetime,
    all_day: bool,
    zone_name: str,
    title: str = "",
    location: str = "",
    description: str = "",
) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "title": title,
        "location": location,
        "description": description,
        "all_day": all_day,
        "timezone": zone_name,
        "start_date": start.date(),
        "end_date": end.date(),
        "scope": ChangeScope.OCCURRENCE,
    }
    if calendar is not None:
        initial["calendar"] = calendar.pk
    if all_day:
        initial["end_date"] = max(start.date(), (end - timedelta(days=1)).date())
    else:
        initial["start_time"] = start.time().replace(second=0, microsecond=0)
        initial["end_time"] = end.time().replace(second=0, microsecond=0)
    return initial


def validation_message(error: ValidationError) -> str:
    return "; ".join(error.messages)
