"""Every URL of the URL configuration, with the owner's real ids and every HTTP method, as an anonymous
visitor, a stranger and the owner: no one reads or changes another person's pages or objects, and the
admin refuses everyone who is not staff.

The URLs come from the resolver, so a new view is covered as soon as it is routed; a URL that takes a
keyword the table below does not know fails until someone says which of the owner's ids it names.
"""

from __future__ import annotations

import hashlib
import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpResponseBase
from django.shortcuts import resolve_url
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.utils.http import int_to_base36
from django.utils.regex_helper import normalize
from django.utils.timezone import now
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)

from accounts.models import Session, User
from audit.models import AuditAction
from audit.services import record
from calsync.models import JobLease
from connections.models import CalendarConnection, OAuthState, Provider, ProviderAccount
from connections.providers.base import RESPONSES
from events.edit_views import CHANGE_ACTIONS
from events.models import CalendarEvent, ChangeScope, ChangeStatus, EventChange, SyncRun, UnreadableItem
from events.week import week_start_for
from fakes import google
from fakes.server import serve
from tests.factories import make_account, make_event
from tests.sync_helpers import google_calendar

# Every private string of the owner carries this marker, so one search of a response finds any of them.
# Random per run, so no page can contain it by accident.
PRIVATE = f"private{secrets.token_hex(6)}"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
REFUSED = {401, 403, 404, 405}

# Views that cannot be about a person's data, by dotted name of the view function.
SKIPPED_VIEWS = {
    # Both serve files from the static (or media) folders, and are routed only when DEBUG is on.
    "django.views.static.serve": "serves files from a folder; no person's data",
    "django.contrib.staticfiles.views.serve": "serves the static files; no person's data",
}


# --- The URL configuration, walked ------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One URL pattern with the prefixes of the resolvers above it."""

    parts: tuple[Any, ...]  # the RoutePattern / RegexPattern of each level, outermost first
    pattern: URLPattern
    namespaces: tuple[str, ...]

    @property
    def text(self) -> str:
        return "".join(str(part) for part in self.parts)

    @property
    def regex(self) -> str:
        # Joined as Django joins them for reverse(): each level's anchor dropped.
        return "".join(part.regex.pattern.removeprefix("^") for part in self.parts)

    @property
    def kwarg_names(self) -> list[str]:
        return [name for part in self.parts for name in part.regex.groupindex]

    @property
    def has_positional_groups(self) -> bool:
        return any(part.regex.groups > len(part.regex.groupindex) for part in self.parts)

    @property
    def view_name(self) -> str:
        callback = self.pattern.callback
        return f"{callback.__module__}.{callback.__qualname__}"

    @property
    def is_admin(self) -> bool:
        return admin.site.name in self.namespaces

    @property
    def admin_model(self) -> type[Model] | None:
        # ModelAdmin.get_urls() tags each of its views with the ModelAdmin.
        model_admin = getattr(self.pattern.callback, "model_admin", None)
        return model_admin.model if model_admin is not None else None


def url_routes() -> list[Route]:
    routes: list[Route] = []

    def walk(entries: list[Any], parts: tuple[Any, ...], namespaces: tuple[str, ...]) -> None:
        for entry in entries:
            if isinstance(entry, URLResolver):
                inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
                walk(entry.url_patterns, (*parts, entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                routes.append(Route((*parts, entry.pattern), entry, namespaces))

    walk(get_resolver().url_patterns, (), ())
    return routes


ROUTES = [route for route in url_routes() if route.view_name not in SKIPPED_VIEWS]


# --- The owner's world --------------------------------------------------------------------------------


@dataclass
class World:
    owner: User
    stranger: User
    google_account: ProviderAccount
    caldav_account: ProviderAccount
    calendar: CalendarConnection
    event: CalendarEvent
    invitation: CalendarEvent  # someone else organizes it: the owner may only answer it
    change: EventChange
    other_device_key_hash: str  # a second signed-in session of the owner's (the Devices page names them)
    clients: dict[str, Client]

    def account_for(self, provider: str | None) -> ProviderAccount:
        return self.caldav_account if provider == self.caldav_account.provider else self.google_account


@pytest.fixture(scope="module")
def google_server() -> Iterator[google.GoogleState]:
    # One fake Google for the module: a server per test costs up to half a second to stop.
    state = google.GoogleState()
    with serve(google.handler_for(state), tls=True) as base_url:
        state.base_url = base_url
        yield state


@pytest.fixture
def fake_google(settings, google_server: google.GoogleState) -> google.GoogleState:
    """The owner's calendar list is read from Google (choosing calendars), so the owner's requests reach it."""
    settings.GOOGLE_CLIENT_ID = google_server.client_id
    settings.GOOGLE_CLIENT_SECRET = google_server.client_secret
    settings.GOOGLE_AUTH_URI = f"{google_server.base_url}/o/oauth2/v2/auth"
    settings.GOOGLE_TOKEN_URI = f"{google_server.base_url}/token"
    settings.GOOGLE_REVOKE_URI = f"{google_server.base_url}/revoke"
    settings.GOOGLE_API_BASE = f"{google_server.base_url}/"
    return google_server


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def session_key_hash(client: Client) -> str:
    return hashlib.sha256(client.cookies[settings.SESSION_COOKIE_NAME].value.encode()).hexdigest()


def person(email: str, name: str, account_email: str, fake: google.GoogleState) -> tuple[User, CalendarConnection]:
    # No password: hashing one (Argon2) per test would cost more than all of a test's requests.
    user = User.objects.create_user(email, name=name, timezone="Europe/Berlin")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    calendar = google_calendar(user, fake, email=account_email)
    return user, calendar


def private_event(calendar: CalendarConnection, words: str) -> tuple[CalendarEvent, EventChange]:
    start = now().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    event = make_event(calendar, start, title=f"{words} title", description=f"{words} notes", location=f"{words} room")
    change = EventChange.objects.create(
        connection=calendar,
        event=event,
        operation="update",
        status=ChangeStatus.FAILED,
        payload={"title": f"{words} edited title"},
    )
    return event, change


@pytest.fixture
def world(db, fake_google: google.GoogleState) -> World:
    login = f"olive.{secrets.token_hex(4)}@example.com"
    owner, calendar = person(login, f"Olive {PRIVATE}", f"olive.{PRIVATE}@gmail.com", fake_google)
    calendar.name = f"Board {PRIVATE}"
    calendar.save(update_fields=["name"])
    caldav_account = make_account(
        owner,
        Provider.CALDAV,
        email=f"olive-{PRIVATE}",
        username=f"olive-{PRIVATE}",
        server_url=f"https://dav.example.com/{PRIVATE}/",
        password=f"app-password-{PRIVATE}",
    )
    event, change = private_event(calendar, f"Merger {PRIVATE}")
    invitation = make_event(
        calendar,
        event.start + timedelta(hours=2),
        title=f"Offsite {PRIVATE}",
        metadata={
            "organizer": {"email": "ceo@example.com", "self": False},
            "attendees": [{"email": calendar.account.email, "response": "needsAction"}],
        },
    )
    # The stranger owns the same kinds of things, so their own pages are not empty.
    sam = secrets.token_hex(4)
    stranger, stranger_calendar = person(f"sam.{sam}@example.com", "Sam Stranger", f"sam.{sam}@gmail.com", fake_google)
    private_event(stranger_calendar, "Sam's")
    other_device = signed_in(owner)
    return World(
        owner=owner,
        stranger=stranger,
        google_account=calendar.account,
        caldav_account=caldav_account,
        calendar=calendar,
        event=event,
        invitation=invitation,
        change=change,
        other_device_key_hash=session_key_hash(other_device),
        clients={"anonymous": Client(), "stranger": signed_in(stranger), "owner": signed_in(owner)},
    )


# --- Which of the owner's ids each URL keyword names ---------------------------------------------------


class UnknownKwarg(Exception):
    pass


@dataclass(frozen=True)
class Kwarg:
    values: Callable[[World, Route], list[str]]
    # A URL carrying it names something of the owner's, so a stranger must be refused outright.
    names_owner_object: bool


def week_of_the_owners_event(world: World, route: Route) -> list[str]:
    return [week_start_for(world.event.start.astimezone(world.owner.zone).date(), world.owner.week_start).isoformat()]


def recovery_codes(user: User) -> Any:
    return RecoveryCodes.activate(user).instance.pk


# The admin's object_id: the owner's row of the admin's model. Models that hold no one's data get a row
# made for the test, since the admin has to refuse those pages all the same.
ADMIN_ROWS: dict[str, Callable[[World], Any]] = {
    "accounts.user": lambda w: w.owner.pk,
    "accounts.session": lambda w: w.other_device_key_hash,
    "account.emailaddress": lambda w: EmailAddress.objects.get(user=w.owner).pk,
    "mfa.authenticator": lambda w: recovery_codes(w.owner),
    "connections.provideraccount": lambda w: w.google_account.pk,
    "connections.calendarconnection": lambda w: w.calendar.pk,
    "connections.oauthstate": lambda w: (
        OAuthState.objects.create(
            state=secrets.token_urlsafe(16),
            user=w.owner,
            session_key_hash=w.other_device_key_hash,
            provider=Provider.GOOGLE,
            expires_at=now() + timedelta(minutes=15),
        ).pk
    ),
    "events.calendarevent": lambda w: w.event.pk,
    "events.eventchange": lambda w: w.change.pk,
    "events.syncrun": lambda w: SyncRun.objects.create(connection=w.calendar).pk,
    "events.unreadableitem": lambda w: (
        UnreadableItem.objects.create(connection=w.calendar, provider_item_id="broken.ics", reason="unreadable").pk
    ),
    "audit.auditlog": lambda w: record(action=AuditAction.CONNECTION_CONNECTED, actor=w.owner, target=w.calendar).pk,
    "auth.group": lambda w: Group.objects.create(name="Support").pk,
    "calsync.joblease": lambda w: JobLease.objects.create(name="events.sync_due").pk,
    "django_celery_beat.intervalschedule": lambda w: IntervalSchedule.objects.create(every=1, period="days").pk,
    "django_celery_beat.crontabschedule": lambda w: CrontabSchedule.objects.create().pk,
    "django_celery_beat.solarschedule": lambda w: (
        SolarSchedule.objects.create(event="sunrise", latitude=0, longitude=0).pk
    ),
    "django_celery_beat.clockedschedule": lambda w: ClockedSchedule.objects.create(clocked_time=now()).pk,
    "django_celery_beat.periodictask": lambda w: (
        PeriodicTask.objects.create(
            name="nightly", task="events.sync_due", interval=IntervalSchedule.objects.create(every=1, period="days")
        ).pk
    ),
}


def admin_model_of(route: Route) -> type[Model]:
    # view_on_site names its model by content type: the owner's User (see content_type_id).
    return route.admin_model or User


def admin_row(world: World, route: Route) -> list[str]:
    return [str(ADMIN_ROWS[admin_model_of(route)._meta.label_lower](world))]  # unknown_kwargs() checked the key


URL_KWARGS: dict[str, Kwarg] = {
    "account_id": Kwarg(lambda w, r: [str(w.google_account.pk)], names_owner_object=True),
    "connection_id": Kwarg(lambda w, r: [str(w.calendar.pk)], names_owner_object=True),
    # One the owner organizes (edit, move, delete act on it) and an invitation (the only one to answer).
    "event_id": Kwarg(lambda w, r: [str(w.event.pk), str(w.invitation.pk)], names_owner_object=True),
    "change_id": Kwarg(lambda w, r: [str(w.change.pk)], names_owner_object=True),
    "key_hash": Kwarg(lambda w, r: [w.other_device_key_hash], names_owner_object=True),
    # Every action on a change: each is a different service, each must check ownership.
    "action": Kwarg(lambda w, r: sorted(CHANGE_ACTIONS), names_owner_object=False),
    # The owner's providers: a provider is no one's, but the connect pages take an account of it.
    "provider": Kwarg(lambda w, r: [w.google_account.provider, w.caldav_account.provider], names_owner_object=False),
    # Everyone has a week at the same URL; the owner's shows the owner's event.
    "day": Kwarg(week_of_the_owners_event, names_owner_object=False),
    # allauth's emailed links: the key is the credential (whoever holds it is the owner, by design), so a
    # stranger can only guess one; the owner's real user id goes with it.
    "key": Kwarg(lambda w, r: [secrets.token_hex(10)], names_owner_object=False),
    "uidb36": Kwarg(lambda w, r: [int_to_base36(w.owner.pk)], names_owner_object=False),
    # The admin (refused to every non-staff person whatever the URL names).
    "object_id": Kwarg(admin_row, names_owner_object=True),
    "id": Kwarg(lambda w, r: [str(w.owner.pk)], names_owner_object=True),  # a user's password, by user id
    "content_type_id": Kwarg(
        lambda w, r: [str(ContentType.objects.get_for_model(admin_model_of(r)).pk)], names_owner_object=False
    ),
    "app_label": Kwarg(lambda w, r: [User._meta.app_label], names_owner_object=False),
    "url": Kwarg(lambda w, r: ["no-such-admin-page/"], names_owner_object=False),  # the admin's catch-all
}


def unknown_kwargs(route: Route) -> list[str]:
    problems = [
        f"{route.text} takes `{name}`, which URL_KWARGS does not know: add it to the table"
        for name in route.kwarg_names
        if name not in URL_KWARGS
    ]
    if route.has_positional_groups:
        problems.append(f"{route.text} takes positional arguments: name them, and add them to the table")
    if "object_id" in route.kwarg_names and admin_model_of(route)._meta.label_lower not in ADMIN_ROWS:
        problems.append(f"{route.text}: its admin model is not in ADMIN_ROWS: add it to the table")
    return problems


def paths_for(route: Route, world: World) -> list[tuple[str, dict[str, str]]]:
    """The route filled in with the owner's ids (one path per combination of listed values)."""
    problems = unknown_kwargs(route)
    if problems:
        raise UnknownKwarg("; ".join(problems))
    names = route.kwarg_names
    choices = [URL_KWARGS[name].values(world, route) for name in names]
    (template, params), *_ = normalize(route.regex)
    assert sorted(params) == sorted(names), f"{route.text}: cannot fill in {params}"
    paths = []
    for combination in itertools.product(*choices):
        kwargs = dict(zip(names, combination, strict=True))
        path = "/" + template % kwargs
        # The filled-in path must reach the very view it was made from, or the test would check another.
        assert resolve(path).func is route.pattern.callback, f"{path} does not resolve to {route.view_name}"
        paths.append((path, kwargs))
    return paths


# --- Requests --------------------------------------------------------------------------------------


def posted_fields(world: World) -> dict[str, Any]:
    """One form for every view that changes something: each takes its fields and ignores the rest.

    Every id in it is the owner's, so a view that forgot to check ownership would act on the owner's rows.
    """
    moved = (world.event.start + timedelta(days=1)).astimezone(world.owner.zone)
    return {
        # The event form (new, edit), aimed at the owner's calendar.
        "title": "posted by the test",
        "calendar": str(world.calendar.pk),
        "all_day": "",
        "start_date": moved.date().isoformat(),
        "start_time": "10:00",
        "end_date": moved.date().isoformat(),
        "end_time": "11:00",
        "timezone": world.owner.timezone,
        "location": "",
        "description": "",
        "scope": ChangeScope.EVENT,
        "notify": "1",
        "start": moved.replace(tzinfo=None).isoformat(timespec="minutes"),  # drag to move
        "response": RESPONSES[0],  # answer an invitation
        "shown": "0",  # hide a calendar (the owner's is shown)
        "calendars": [world.calendar.remote_id],  # choose an account's calendars
        "account": str(world.google_account.pk),  # reconnect an account
        # Connect a CalDAV account (loopback: refused, or at least never reached).
        "server_url": "https://127.0.0.1/",
        "username": "posted-by-the-test",
        "password": "posted-by-the-test",
        # Profile settings; allauth's sign-in and address management, naming the owner's address.
        "name": "posted by the test",
        "week_start": "6",
        "login": world.owner.email,
        "email": world.owner.email,
        "action_remove": "",
        "next": "/",
    }


def query_for(world: World, kwargs: dict[str, str]) -> dict[str, str]:
    """Ids that some pages read from the query string (reconnect an account, new event in a calendar)."""
    return {
        "account": str(world.account_for(kwargs.get("provider")).pk),
        "calendar": str(world.calendar.pk),
        "date": world.event.start.date().isoformat(),
    }


@dataclass
class Answer:
    status: int
    location: str
    body: bytes


def send(client: Client, method: str, path: str, query: dict[str, str], form: dict[str, Any]) -> Answer:
    # The query goes with every method, as a form posting to its own page keeps it (some views read it then).
    url = f"{path}?{urlencode(query)}"
    if method in {"GET", "HEAD"}:
        response: HttpResponseBase = client.generic(method, url)
    else:
        body = urlencode(form, doseq=True)
        response = client.generic(method, url, body, content_type="application/x-www-form-urlencoded")
    content = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    return Answer(response.status_code, response.get("Location", ""), content)


def owner_rows(owner: User) -> dict[str, list[dict[str, Any]]]:
    """Everything of the owner's a request could read or change. (Not the audit log: it records attempts
    against an account, failed sign-ins among them, which is its purpose.)"""
    tables: dict[str, QuerySet[Any]] = {
        "user": User.all_objects.filter(pk=owner.pk),
        "email addresses": EmailAddress.objects.filter(user=owner),
        "authenticators": Authenticator.objects.filter(user=owner),
        "sessions": Session.objects.filter(user=owner),
        "provider accounts": ProviderAccount.objects.filter(user=owner),
        "oauth states": OAuthState.objects.filter(user=owner),
        "calendars": CalendarConnection.objects.filter(user=owner),
        "events": CalendarEvent.objects.filter(connection__user=owner),
        "changes": EventChange.objects.filter(connection__user=owner),
        "sync runs": SyncRun.objects.filter(connection__user=owner),
    }
    return {name: list(rows.order_by("pk").values()) for name, rows in tables.items()}


def login_paths() -> set[str]:
    return {resolve_url(settings.LOGIN_URL), reverse("admin:login")}


def is_redirect(answer: Answer) -> bool:
    return 300 <= answer.status < 400


def problems_with(actor: str, route: Route, names_owner_object: bool, answer: Answer) -> list[str]:
    problems = []
    if answer.status >= 500:
        problems.append(f"server error {answer.status}")
    if actor == "owner" and not route.is_admin:
        return problems  # the owner's own pages: anything but a server error
    if PRIVATE.encode() in answer.body or PRIVATE in answer.location:
        problems.append(f"shows the owner's private data ({answer.status})")
    redirected_to = urlsplit(answer.location).path if is_redirect(answer) else None
    to_login = redirected_to in login_paths()
    # Django sends a non-staff sign-out to the admin index, which is itself refused (checked here too).
    to_refused_admin = redirected_to == reverse("admin:index")
    if route.is_admin and not (answer.status in REFUSED or to_login or to_refused_admin):
        problems.append(f"admin not refused to non-staff: {answer.status} {answer.location}".rstrip())
    elif names_owner_object and actor == "anonymous" and not (answer.status in REFUSED or to_login):
        problems.append(f"names the owner's object but answers {answer.status} {answer.location}".rstrip())
    elif names_owner_object and actor == "stranger" and not (answer.status in REFUSED or is_redirect(answer)):
        problems.append(f"names the owner's object but answers {answer.status}")
    return problems


def test_every_url_keyword_is_in_the_table():
    assert ROUTES, "the URL configuration yielded no URLs"
    problems = [problem for route in ROUTES for problem in unknown_kwargs(route)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("route", ROUTES, ids=[f"/{route.text}" for route in ROUTES])
def test_no_one_reaches_another_persons_pages_or_objects(route: Route, world: World):
    try:
        paths = paths_for(route, world)
    except UnknownKwarg as unknown:
        pytest.fail(str(unknown))
    names_owner_object = any(URL_KWARGS[name].names_owner_object for name in route.kwarg_names)
    form = posted_fields(world)
    before = owner_rows(world.owner)
    failures = []
    # Everyone else first, while the owner's rows are intact; the owner's own requests may change them.
    for actor, client in world.clients.items():
        for (path, kwargs), method in itertools.product(paths, METHODS):
            try:
                if actor == "owner":
                    # Undone after each request, so each of the owner's requests meets the same world.
                    with transaction.atomic():
                        answer = send(client, method, path, query_for(world, kwargs), form)
                        transaction.set_rollback(True)
                else:
                    answer = send(client, method, path, query_for(world, kwargs), form)
            except Exception as error:  # a crash is a finding, reported with the others
                failures.append(f"{method} {path} as {actor}: raised {error!r}")
                continue
            problems = problems_with(actor, route, names_owner_object, answer)
            if actor != "owner":
                after = owner_rows(world.owner)
                changed = [table for table in before if after[table] != before[table]]
                if changed:
                    problems.append(f"changed the owner's {', '.join(changed)}")
                    before = after  # report each change once
            failures.extend(f"{method} {path} as {actor}: {problem}" for problem in problems)
    assert not failures, f"{len(failures)} problem(s):\n" + "\n".join(failures)
