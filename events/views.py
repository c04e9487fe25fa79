"""The home page (the week, once signed in), the week view, an event's details, and showing or hiding a calendar.

Pages are whole documents; htmx requests (navigation, the legend, the detail panel) get the fragment they
swap in. Every query is bounded: the viewer's calendars (one query), their occurrences (two), whatever the
number of calendars or events.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.timezone import now
from django.views.decorators.http import require_POST, require_safe

from accounts.models import User
from calsync.lib.http import posted_next
from connections.models import AccountStatus, CalendarConnection, SyncState
from connections.selectors import unreadable_counts
from events.calendar_colors import calendar_color
from events.edits import edit_refusal, organized_elsewhere, own_attendee
from events.models import CalendarEvent, EventChange, EventSyncStatus
from events.recurrence import RecurrenceError, Series, as_stored, occurrences_between, split_lines, zone_or_none
from events.selectors import (
    changes_to_settle,
    occurrence_end,
    occurrences_in_window,
    shown_instant,
    week_calendars,
    week_stamp,
    week_stamp_of,
)
from events.week import DAYS, local_midnight, week_layout, week_start_for

SYNCED = EventSyncStatus.SYNCED
# Weeks outside these years are refused: nothing a calendar holds, and no date arithmetic at the edges.
FIRST_YEAR, LAST_YEAR = 1900, 2200


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # login_required ran; this narrows the type
        raise PermissionDenied
    return request.user


def _is_fragment(request: HttpRequest) -> bool:
    # htmx restoring history asks for the whole page (it keeps no copy of it: historyCacheSize is 0).
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """The week view for a signed-in person; what calsync is, for everyone else."""
    if request.user.is_authenticated:
        return week_current(request)
    return render(request, "home.html")


@login_required
@require_safe
def week_current(request: HttpRequest) -> HttpResponse:
    """The signed-in home page: this week, in the person's zone, from their first weekday."""
    user = _user(request)
    return _render_week(request, user, week_start_for(now().astimezone(user.zone).date(), user.week_start))


@login_required
@require_safe
def week_pick(request: HttpRequest) -> HttpResponse:
    """The date picker's target (`?date=YYYY-MM-DD`): the week that holds that day."""
    user = _user(request)
    day = _parse_day(request.GET.get("date", ""))
    if day is None:
        return redirect("home")
    return redirect("week", day=week_start_for(day, user.week_start).isoformat())


@login_required
@require_safe
def week(request: HttpRequest, day: str) -> HttpResponse:
    user = _user(request)
    parsed = _parse_day(day)
    if parsed is None:
        raise Http404("No such week")
    start = week_start_for(parsed, user.week_start)
    if day != start.isoformat():  # any day (in any ISO form) names its week; the URL names its first day
        return redirect("week", day=start.isoformat())
    return _render_week(request, user, start)


@login_required
@require_safe
def week_changed(request: HttpRequest) -> HttpResponse:
    """An open week page asks every few seconds whether what it shows changed: `?since=` the stamp it was
    drawn with. 204 (no body) while it is the same; else 200 with the new stamp as text, and the page fetches
    its week again. One query on the person's calendars and none on events (`week_stamp`).

    Not an ETag and 304: the page passes the stamp itself, so no browser cache sits in between (signed-in
    answers are `no-store`), and a 204 answers "nothing new" as cheaply."""
    stamp = week_stamp(user=_user(request))
    if request.GET.get("since", "") == stamp:
        return HttpResponse(status=204)
    return HttpResponse(stamp, content_type="text/plain; charset=utf-8")


def _parse_day(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if FIRST_YEAR <= day.year <= LAST_YEAR else None


def _render_week(request: HttpRequest, user: User, start: date) -> HttpResponse:
    zone = user.zone
    calendars = week_calendars(user=user)
    shown = [calendar for calendar in calendars if calendar.shown_in_week]
    occurrences = occurrences_in_window(
        connection_ids=[calendar.pk for calendar in shown],
        start=local_midnight(start, zone),
        end=local_midnight(start + timedelta(days=DAYS), zone),
        zone=zone,
    )
    layout = week_layout(occurrences, start=start, zone=zone, moment=now())
    context = {
        "layout": layout,
        "calendars": calendars,
        "colors": {calendar.pk: calendar_color(calendar, index) for index, calendar in enumerate(calendars)},
        "names": {calendar.pk: calendar.name for calendar in calendars},
        "zone_name": user.timezone,
        "this_week": week_start_for(now().astimezone(zone).date(), user.week_start),
        "previous_week": start - timedelta(days=DAYS),
        "next_week": start + timedelta(days=DAYS),
        "hours": range(24),
        "attention": sum(1 for calendar in calendars if _needs_attention(calendar)),
        "unreadable": unreadable_counts(connection_ids=[calendar.pk for calendar in calendars]),
        "unsettled": changes_to_settle(user=user),
        "not_all_shown": any(occurrence.truncated for occurrence in occurrences),
        "week_url": reverse("week", kwargs={"day": start.isoformat()}),
        # Read before the events: a change committed meanwhile makes the next check fetch the week again.
        "stamp": week_stamp_of(calendars),
        "refresh_seconds": settings.WEEK_REFRESH_SECONDS,
    }
    fragment = _is_fragment(request)
    context["fragment"] = fragment
    response = render(request, "events/_week.html" if fragment else "events/week.html", context)
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


def _needs_attention(calendar: CalendarConnection) -> bool:
    return calendar.account.status != AccountStatus.ACTIVE or calendar.sync_status in (SyncState.ERROR, SyncState.HELD)


@login_required
@require_safe
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    """One event (or one occurrence of a series, `?at=` its start) in the person's zone."""
    user = _user(request)
    event = get_object_or_404(
        CalendarEvent.objects.select_related("connection__account"),
        pk=event_id,
        connection__user=user,
        connection__is_connected=True,
        deleted_at__isnull=True,
    )
    start, end = event.start, event.end
    at = occurrence_start(event, request.GET.get("at", ""))
    if at is not None:
        start, end = at, occurrence_end(event, at)  # an RDATE period has a length of its own
    calendars = week_calendars(user=user)
    index = next((number for number, calendar in enumerate(calendars) if calendar.pk == event.connection_id), 0)
    shown_day = _shown_date(event, start, user.zone)
    own = own_attendee(event)
    context = {
        "event": event,
        "at": at.isoformat() if at is not None else "",
        "changes": list(EventChange.objects.filter(event=event).order_by("pk")) if event.sync_status != SYNCED else [],
        "refusal": edit_refusal(event),
        "own_response": own.get("response", "") if own is not None and organized_elsewhere(event) else "",
        "start": start,
        "end": end,
        "zone": user.zone,
        "zone_name": user.timezone,
        "color": calendar_color(event.connection, index),  # as the week draws it
        "back": reverse("week", kwargs={"day": week_start_for(shown_day, user.week_start).isoformat()}),
    }
    template = "events/_detail.html" if _is_fragment(request) else "events/detail.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


def _shown_date(event: CalendarEvent, start: datetime, zone: ZoneInfo) -> date:
    """The date the week shows an event on: all-day and floating ones keep their stored (UTC-labelled) date."""
    moment = shown_instant(start)
    if event.all_day or not event.timezone:
        return moment.astimezone(UTC).date()
    return moment.astimezone(zone).date()


def occurrence_start(event: CalendarEvent, text: str) -> datetime | None:
    """`?at=`, if it is the start of one of the series' occurrences (else the series itself is shown)."""
    at = _parse_instant(text)
    if at is None or not event.recurrence:
        return None
    zone = None if event.all_day else zone_or_none(event.timezone)
    series = Series(event.start, event.end - event.start, split_lines(event.recurrence), zone)
    wall = at.astimezone(zone or UTC).replace(tzinfo=None)
    try:
        walls = occurrences_between(series, wall - timedelta(minutes=1), wall + timedelta(minutes=1))
        return at if any(as_stored(found, zone) == at for found in walls) else None
    except RecurrenceError:
        return None


def _parse_instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None or not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return moment


@login_required
@require_POST
def calendar_visibility(request: HttpRequest, connection_id: int) -> HttpResponse:
    """Show or hide one calendar in the week view; remembered on the calendar, so every device agrees."""
    connection = get_object_or_404(CalendarConnection, pk=connection_id, user=request.user, is_connected=True)
    shown = request.POST.get("shown") == "1"
    # Another device's open week follows (changed_at).
    CalendarConnection.objects.filter(pk=connection.pk).update(shown_in_week=shown, changed_at=now())
    return redirect(posted_next(request, default=reverse("home")))
