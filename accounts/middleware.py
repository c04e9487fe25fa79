from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.sessions import SessionStore
from calsync.lib.http import client_info


class DeviceSessionMiddleware(SessionMiddleware):
    """Django's SessionMiddleware, plus the device context our session rows keep.

    It tells the store which client is calling (so a saved session records its browser and IP) and, on
    requests that do not otherwise save the session, refreshes `last_seen_at` at most once per
    SESSION_TOUCH_INTERVAL.
    """

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        if isinstance(request.session, SessionStore):
            request.session.client = client_info(request)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if isinstance(session, SessionStore) and session.accessed and not session.modified:
            session.touch()
        return super().process_response(request, response)


class UserTimezoneMiddleware:
    """Show times in the signed-in person's own zone on every page (templates convert to the active zone)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            try:
                timezone.activate(user.zone)
            except (ValueError, zoneinfo.ZoneInfoNotFoundError):
                timezone.deactivate()  # a zone the machine no longer knows: UTC rather than an error page
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
