"""Creating, editing, moving and deleting events, answering invitations, and settling changes that failed
or conflicted. Thin: each view checks ownership, parses its form and calls one service in events.edits.

Full pages with plain forms (they work without JavaScript); the week's script adds click-and-drag on the
grid, which opens the new-event form with the times filled in, and drag-to-move, which posts `event_move`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.timezone import now
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from connections.models import AccountStatus, CalendarConnection
from connections.providers.base import RESPONSES
from connections.providers.registry import adapter_for
from events.drafts import draft_of_row, shifted
from events.edits import (
    FOLLOWING,
    EditRefused,
    change_discard,
    change_reapply,
    change_retry,
    event_create,
    event_delete,
    event_respond,
    event_update,
)
from events.forms import EventForm, initial_for
from events.models import CalendarEvent, ChangeScope, ChangeStatus, EventChange
from events.selectors import shown_instant
from events.views import FIRST_YEAR, LAST_YEAR, _user, occurrence_start
from events.week import week_start_for

SCOPES = {ChangeScope.OCCURRENCE, ChangeScope.EVENT, FOLLOWING}
CHANGE_ACTIONS = {"retry": change_retry, "reapply": change_reapply, "discard": change_discard}


def writable_calendars(user: User) -> list[CalendarConnection]:
    return list(
        CalendarConnection.objects.filter(
            user=user, is_connected=True, read_only=False, account__status=AccountStatus.ACTIVE
        )
        .select_related("account")
        .order_by("-is_primary", "name", "pk")
    )


def _can_notify(calendars: list[CalendarConnection]) -> bool:
    return any(getattr(adapter_for(calendar.account.provider), "can_choose_notify", False) for calendar in calendars)


def _own_event(request: HttpRequest, event_id: int) -> CalendarEvent:
    return get_object_or_404(
        CalendarEvent.objects.select_related("connection__account", "recurring_event"),
        pk=event_id,
        connection__user=_user(request),
        connection__is_connected=True,
        deleted_at__isnull=True,
    )


def _week_of(user: User, moment: datetime | date) -> str:
    day = moment.astimezone(user.zone).date() if isinstance(moment, datetime) else moment
    return reverse("week", kwargs={"day": week_start_for(day, user.week_start).isoformat()})


def _shown_week(user: User, event: CalendarEvent) -> str:
    if event.all_day or not event.timezone:
        return _week_of(user, shown_instant(event.start).astimezone(UTC).date())
    return _week_of(user, event.start)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def event_new(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    calendars = writable_calendars(user)
    if not calendars:
        messages.error(request, "None of your calendars can be changed here: connect one you can edit first.")
        return redirect("home")
    form = EventForm(request.POST or None, calendars=calendars, can_notify=_can_notify(calendars))
    if request.method == "POST" and form.is_valid():
        calendar = form.cleaned_data["calendar"]
        try:
            event = event_create(
                connection=calendar,
                draft=form.draft(),
                notify=bool(form.cleaned_data.get("notify")),
                actor=user,
                request=request,
            )
        except EditRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, f"“{event.title or '(no title)'}” saved. It is on its way to {calendar.name}.")
            return redirect(_shown_week(user, event))
    if request.method != "POST":
        form = EventForm(
            initial=_new_initial(request, user, calendars), calendars=calendars, can_notify=_can_notify(calendars)
        )
    return render(request, "events/form.html", {"form": form, "creating": True, "back": reverse("home")})


def _new_initial(request: HttpRequest, user: User, calendars: list[CalendarConnection]) -> dict[str, Any]:
    """The grid's click or drag names a start and an end (local wall times), or a day for all-day."""
    zone = user.zone
    all_day = request.GET.get("all_day") == "1"
    start = _local(request.GET.get("start", ""), zone)
    if start is None:
        start = (now().astimezone(zone) + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    end = _local(request.GET.get("end", ""), zone)
    if end is None or end <= start:
        end = start + (timedelta(days=1) if all_day else timedelta(hours=1))
    wanted = request.GET.get("calendar", "")
    calendar = next((item for item in calendars if str(item.pk) == wanted), calendars[0])
    return initial_for(calendar=calendar, start=start, end=end, all_day=all_day, zone_name=user.timezone)


def _local(text: str, zone: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment.astimezone(zone)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def event_edit(request: HttpRequest, event_id: int) -> HttpResponse:
    user = _user(request)
    event = _own_event(request, event_id)
    occurrence = occurrence_start(event, request.POST.get("at") or request.GET.get("at", ""))
    series = bool(event.recurrence or event.master_provider_event_id)
    calendars = writable_calendars(user)
    if event.connection not in calendars:
        calendars = [event.connection, *calendars]
    can_notify = _can_notify([event.connection]) and bool(event.metadata.get("attendees"))
    floating = not event.all_day and not event.timezone
    form = EventForm(request.POST or None, calendars=calendars, series=series, can_notify=can_notify, floating=floating)
    if request.method == "POST" and form.is_valid():
        scope = str(form.cleaned_data.get("scope") or (ChangeScope.OCCURRENCE if series else ChangeScope.EVENT))
        recurrence = _kept_recurrence(event, scope)
        try:
            changed = event_update(
                event=event,
                draft=form.draft(recurrence=recurrence),
                occurrence=occurrence,
                scope=scope,
                connection=form.cleaned_data["calendar"],
                notify=bool(form.cleaned_data.get("notify")),
                actor=user,
                request=request,
            )
        except EditRefused as refused:
            form.add_error(None, str(refused))
        else:
            messages.success(request, f"“{changed.title or '(no title)'}” saved. It is on its way to the provider.")
            return redirect(_shown_week(user, changed))
    if request.method != "POST":
        start, end = event.start, event.end
        if occurrence is not None:
            start, end = occurrence, occurrence + (event.end - event.start)
        form = EventForm(
            initial=_edit_initial(event, start, end, user),
            calendars=calendars,
            series=series,
            can_notify=can_notify,
            floating=floating,
        )
    context = {
        "form": form,
        "event": event,
        "at": occurrence.isoformat() if occurrence else "",
        "back": _shown_week(user, event),
    }
    return render(request, "events/form.html", context)


def _kept_recurrence(event: CalendarEvent, scope: str) -> tuple[str, ...]:
    # The form edits times and text; a series keeps its rule (the service moves it with the occurrence).
    if scope == ChangeScope.EVENT and event.recurrence:
        return draft_of_row(event).recurrence
    return ()


def _edit_initial(event: CalendarEvent, start: datetime, end: datetime, user: User) -> dict[str, Any]:
    if event.all_day or not event.timezone:
        # Stored as wall-clock values labelled UTC: shown as they are (a floating event stays floating).
        shown_start, shown_end = start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)
        zone_name = user.timezone if event.all_day else ""
    else:
        # In the zone it was written in, as the provider shows it (a Tokyo call stays a Tokyo call).
        zone_name = event.timezone
        shown_start, shown_end = start.astimezone(ZoneInfo(zone_name)), end.astimezone(ZoneInfo(zone_name))
    return initial_for(
        calendar=event.connection,
        start=shown_start,
        end=shown_end,
        all_day=event.all_day,
        zone_name=zone_name,
        title=event.title,
        location=event.location,
        description=event.description,
    )


@login_required
@require_POST
def event_move(request: HttpRequest, event_id: int) -> HttpResponse:
    """Drag and drop on the grid: the same event (or occurrence) at a new start, as long as it was."""
    user = _user(request)
    event = _own_event(request, event_id)
    occurrence = occurrence_start(event, request.POST.get("at", ""))
    # Dragging an occurrence (or an occurrence moved before, an exception) moves just that one.
    one = occurrence is not None or bool(event.master_provider_event_id)
    scope = request.POST.get("scope", ChangeScope.OCCURRENCE if one else ChangeScope.EVENT)
    if scope not in SCOPES:
        scope = ChangeScope.EVENT
    new_start = _local(request.POST.get("start", ""), user.zone)
    back = _shown_week(user, event)
    if new_start is None:
        messages.error(request, "That move could not be read. Try again, or use Edit.")
        return redirect(back)
    old_start = occurrence or event.start
    if event.all_day:
        moved_by = timedelta(days=(new_start.date() - old_start.astimezone(UTC).date()).days)
    elif not event.timezone:  # floating: wall-clock times, stored labelled UTC
        moved_by = new_start.replace(tzinfo=None) - old_start.astimezone(UTC).replace(tzinfo=None)
    else:
        moved_by = new_start - old_start
    draft = draft_of_row(event)
    if occurrence is not None:
        # One occurrence (or the series through it): the occurrence's own times, moved.
        draft = replace(shifted(draft, occurrence - event.start), recurrence=())
    moved = shifted(draft, moved_by)
    try:
        changed = event_update(
            event=event, draft=moved, occurrence=occurrence, scope=scope, actor=user, request=request
        )
    except EditRefused as refused:
        messages.error(request, str(refused))
        return redirect(back)
    messages.success(request, f"“{changed.title or '(no title)'}” moved.")
    week = request.POST.get("week", "")
    return redirect(week if _is_week_url(week) else back)


def _is_week_url(text: str) -> bool:
    return text.startswith("/week/") and "//" not in text and "\\" not in text


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def event_delete_view(request: HttpRequest, event_id: int) -> HttpResponse:
    user = _user(request)
    event = _own_event(request, event_id)
    occurrence = occurrence_start(event, request.POST.get("at") or request.GET.get("at", ""))
    series = bool(event.recurrence or event.master_provider_event_id)
    back = _shown_week(user, event)
    error = ""
    if request.method == "POST":
        scope = request.POST.get("scope", ChangeScope.OCCURRENCE if series else ChangeScope.EVENT)
        if scope not in SCOPES:
            scope = ChangeScope.EVENT
        try:
            event_delete(
                event=event,
                occurrence=occurrence,
                scope=scope,
                notify=request.POST.get("notify") == "1",
                actor=user,
                request=request,
            )
        except EditRefused as refused:
            error = str(refused)
        else:
            messages.success(request, f"“{event.title or '(no title)'}” deleted.")
            return redirect(back)
    context = {
        "event": event,
        "series": series,
        "at": occurrence.isoformat() if occurrence else "",
        "back": back,
        "error": error,
        "can_notify": _can_notify([event.connection]) and bool(event.metadata.get("attendees")),
    }
    return render(request, "events/delete.html", context, status=400 if error else 200)


@login_required
@require_POST
def event_respond_view(request: HttpRequest, event_id: int) -> HttpResponse:
    user = _user(request)
    event = _own_event(request, event_id)
    response = request.POST.get("response", "")
    back = _shown_week(user, event)
    if response not in RESPONSES:
        messages.error(request, "Choose Yes, Maybe or No.")
        return redirect(back)
    try:
        event_respond(event=event, response=response, actor=user, request=request)
    except EditRefused as refused:
        messages.error(request, str(refused))
    else:
        messages.success(request, "Your answer is on its way to the organizer.")
    return redirect(back)


@login_required
@require_POST
def change_action(request: HttpRequest, change_id: int, action: str) -> HttpResponse:
    """Retry a failed change, or re-apply or discard one that failed or conflicted."""
    user = _user(request)
    change = get_object_or_404(
        EventChange.objects.select_related("connection", "event"), pk=change_id, connection__user=user
    )
    service = CHANGE_ACTIONS.get(action)
    if service is None:
        raise Http404("No such action")
    if change.status == ChangeStatus.PENDING:
        messages.info(request, "That change is still on its way; nothing to do yet.")
    else:
        service(change=change, actor=user, request=request)
        messages.success(
            request,
            {"retry": "Trying again.", "reapply": "Your version is on its way.", "discard": "Your change was dropped."}[
                action
            ],
        )
    event = CalendarEvent.objects.filter(pk=change.event_id or 0, deleted_at__isnull=True).first()
    return redirect(_shown_week(user, event) if event is not None else reverse("home"))
