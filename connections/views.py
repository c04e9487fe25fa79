"""The connections pages: connect accounts (OAuth or CalDAV), choose calendars, see health, disconnect."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.models import User
from audit.models import AuditAction
from audit.services import record
from calsync.lib.http import absolute_url, posted_next
from calsync.lib.ratelimit import Limit, request_allowed
from connections.credentials import provider_call
from connections.forms import CalDAVForm, ChooseCalendarsForm
from connections.models import AccountStatus, CalendarConnection, Provider, ProviderAccount
from connections.oauth_state import OAuthStateRefused, oauth_state_consume, oauth_state_create
from connections.providers.base import (
    AuthorizationFailed,
    AuthRevoked,
    ProviderAdapter,
    ProviderError,
    RemoteCalendar,
)
from connections.providers.caldav import is_icloud
from connections.providers.netguard import UnsafeURL
from connections.providers.registry import adapter_for
from connections.selectors import accounts_with_calendars
from connections.services import account_connect, account_disconnect, calendar_disconnect, calendars_choose
from events.services import connection_sweep_confirm_and_sync, connection_sync_request

OAUTH_PROVIDERS = (Provider.GOOGLE, Provider.MICROSOFT)
PASSWORD_PROVIDERS = (Provider.ICLOUD, Provider.CALDAV)
# Generous for people, tight for scripts: a connect takes one start and one callback.
START_LIMIT = Limit(per_user=10, per_ip=30, period_seconds=600)
CALLBACK_LIMIT = Limit(per_user=10, per_ip=30, period_seconds=600)
CALDAV_LIMIT = Limit(per_user=10, per_ip=30, period_seconds=600)
# Each visit to the calendar chooser asks the provider for the account's calendars.
CHOOSER_LIMIT = Limit(per_user=30, per_ip=60, period_seconds=600)
# A sync costs provider quota; a person clicking "sync now" a few times a minute is plenty.
SYNC_NOW_LIMIT = Limit(per_user=30, per_ip=60, period_seconds=600)


@login_required
@require_safe
def connections_page(request: HttpRequest) -> HttpResponse:
    accounts = accounts_with_calendars(user=_user(request))
    providers = []
    for provider in (*OAUTH_PROVIDERS, *PASSWORD_PROVIDERS):
        adapter = _adapter(provider)
        providers.append(
            {
                "value": provider.value,
                "label": provider.label,
                "uses_oauth": adapter.uses_oauth,
                "missing_settings": adapter.missing_settings(),
            }
        )
    return render(request, "connections/index.html", {"accounts": accounts, "providers": providers})


@login_required
@require_POST
def connect_start(request: HttpRequest, provider: str) -> HttpResponse:
    adapter = _oauth_adapter(provider)
    missing = adapter.missing_settings()
    if missing:
        messages.error(
            request, f"{Provider(provider).label} is not set up on this server (missing {', '.join(missing)})."
        )
        return redirect("connections")
    if not request_allowed(request, "oauth_start", START_LIMIT):
        return _too_many(request)
    reconnecting = _own_account(request, request.POST.get("account"), provider)
    state = oauth_state_create(
        user=_user(request),
        session_key=_session_key(request),
        provider=provider,
        flow=None,
        return_url=reverse("connections"),
    )
    try:
        start = adapter.authorization_start(
            redirect_uri=_redirect_uri(request, provider),
            state=state.state,
            login_hint=reconnecting.email if reconnecting else "",
        )
    except ProviderError:
        state.delete()  # never sent to the provider, so no callback will come for it
        messages.error(request, f"We could not reach {Provider(provider).label} just now. Please try again.")
        return redirect("connections")
    state.flow = start.flow
    state.save(update_fields=["flow"])
    return HttpResponseRedirect(start.url)


# Not in the request's transaction: the state stays consumed and a rotated token stays saved even if
# rendering fails afterwards, and no row lock is held while the provider is called.
@transaction.non_atomic_requests
@login_required
@require_safe
def connect_callback(request: HttpRequest, provider: str) -> HttpResponse:
    adapter = _oauth_adapter(provider)
    label = Provider(provider).label
    if not request_allowed(request, "oauth_callback", CALLBACK_LIMIT):
        return _too_many(request)
    try:
        state = oauth_state_consume(
            state=request.GET.get("state"),
            user=_user(request),
            session_key=_session_key(request),
            provider=provider,
            request=request,
        )
    except OAuthStateRefused as refused:
        return _refused(request, provider, str(refused))
    if "error" in request.GET:
        error = request.GET["error"][:64]
        _audit_refusal(request, provider, reason="provider_error", error=error)
        if error == "access_denied":
            return _refused(request, provider, f"You declined access at {label}, so nothing was connected.")
        return _refused(request, provider, f"{label} could not complete the sign-in ({error}). Please try again.")
    try:
        grant = adapter.authorization_finish(
            flow=state.flow or {}, params=request.GET.dict(), redirect_uri=_redirect_uri(request, provider)
        )
    except AuthorizationFailed as failed:
        _audit_refusal(request, provider, reason="exchange_failed")
        return _refused(request, provider, str(failed))
    except ProviderError:
        _audit_refusal(request, provider, reason="provider_unavailable")
        return _refused(
            request, provider, f"We could not reach {label} to finish connecting. Please try again.", status=502
        )
    account = account_connect(user=_user(request), provider=provider, grant=grant, request=request)
    return _after_connect(request, account, return_url=state.return_url)


@sensitive_post_parameters("password")
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def caldav_connect(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in PASSWORD_PROVIDERS:
        raise Http404
    reconnecting = _own_account(request, request.GET.get("account"), provider)
    initial = {"server_url": settings.CALDAV_DEFAULT_URL if provider == Provider.ICLOUD else ""}
    if reconnecting:
        initial = {"server_url": reconnecting.server_url, "username": reconnecting.username}
    form = CalDAVForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        if not request_allowed(request, "caldav_connect", CALDAV_LIMIT):
            return _too_many(request)
        server_url = form.cleaned_data["server_url"]
        actual = Provider.ICLOUD if is_icloud(server_url) else Provider.CALDAV
        try:
            grant = _adapter(actual).verify(
                server_url=server_url, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
        except (UnsafeURL, AuthorizationFailed) as refused:
            form.add_error(None, str(refused))
        except ProviderError:
            form.add_error(None, "The server did not answer properly. Please try again in a minute.")
        else:
            account = account_connect(user=_user(request), provider=actual, grant=grant, request=request)
            return _after_connect(request, account)
    return render(
        request,
        "connections/caldav.html",
        {"form": form, "provider": provider, "label": Provider(provider).label, "reconnecting": reconnecting},
        status=400 if form.is_bound and form.errors else 200,
    )


@transaction.non_atomic_requests
@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def choose_calendars(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(ProviderAccount, pk=account_id, user=request.user)
    if not request_allowed(request, "choose_calendars", CHOOSER_LIMIT):
        return _too_many(request)
    adapter = _adapter(account.provider)
    try:
        remote = provider_call(account, adapter.list_calendars)
    except AuthRevoked:
        messages.error(request, f"{account} needs reconnecting before its calendars can be listed.")
        return redirect("connections")
    except ProviderError:
        return render(request, "connections/choose.html", {"account": account, "unavailable": True}, status=502)
    form = ChooseCalendarsForm(request.POST or None, remote_calendars=remote)
    if request.method == "POST" and form.is_valid():
        result = calendars_choose(
            account=account, remote_calendars=remote, chosen_ids=set(form.cleaned_data["calendars"]), request=request
        )
        for calendar in result.elsewhere:
            messages.warning(
                request, f"“{calendar.name}” is already synced through another account, so it was skipped."
            )
        synced = len(result.added) + len(result.updated)
        messages.success(request, f"Syncing {synced} calendar{'s' if synced != 1 else ''} from {account}.")
        return redirect("connections")
    rows = _chooser_rows(account, remote, chosen=request.POST.getlist("calendars") if form.is_bound else None)
    return render(
        request,
        "connections/choose.html",
        {"account": account, "rows": rows, "form": form},
        status=400 if form.is_bound else 200,
    )


@login_required
@require_POST
def calendar_disconnect_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(
        CalendarConnection.objects.select_related("account"), pk=connection_id, user=request.user
    )
    name = connection.name
    account_label = str(connection.account)
    if calendar_disconnect(connection=connection, request=request):
        messages.success(
            request, f"Disconnected “{name}”, the last calendar of {account_label}; the account is removed."
        )
    else:
        messages.success(request, f"Disconnected “{name}”. Its events are no longer shown.")
    return redirect("connections")


@login_required
@require_POST
def calendar_sync_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(
        CalendarConnection.objects.select_related("account"), pk=connection_id, user=request.user
    )
    if connection.account.status != AccountStatus.ACTIVE:
        messages.error(request, f"Reconnect {connection.account} first: calsync cannot reach “{connection.name}”.")
    elif not request_allowed(request, "sync_now", SYNC_NOW_LIMIT):
        return _too_many(request)
    elif connection.is_syncing:
        messages.info(request, f"“{connection.name}” is syncing right now.")
    else:
        connection_sync_request(connection=connection)
        messages.success(request, f"Syncing “{connection.name}” now. Reload in a moment to see the result.")
    return redirect(posted_next(request, default=reverse("connections")))  # the week view sends `next`


@login_required
@require_POST
def calendar_confirm_deletion_view(request: HttpRequest, connection_id: int) -> HttpResponse:
    connection = get_object_or_404(CalendarConnection, pk=connection_id, user=request.user)
    if connection_sweep_confirm_and_sync(connection=connection, actor=_user(request)):
        messages.success(
            request, f"Confirmed. Events no longer at the provider are being removed from “{connection.name}”."
        )
    else:
        messages.info(request, f"Nothing is waiting for confirmation on “{connection.name}”.")
    return redirect("connections")


@login_required
@require_POST
def account_disconnect_view(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(ProviderAccount, pk=account_id, user=request.user)
    label = str(account)
    account_disconnect(account=account, request=request)
    messages.success(request, f"Disconnected {label}. Its calendars and events are removed from calsync.")
    return redirect("connections")


def _chooser_rows(
    account: ProviderAccount, remote: list[RemoteCalendar], chosen: list[str] | None
) -> list[dict[str, Any]]:
    mine = {
        c.remote_id: c for c in CalendarConnection.objects.filter(user_id=account.user_id).select_related("account")
    }
    first_time = not any(c.account_id == account.pk for c in mine.values())
    rows = []
    for calendar in remote:
        existing = mine.get(calendar.remote_id)
        elsewhere = existing is not None and existing.account_id != account.pk
        if chosen is not None:
            checked = calendar.remote_id in chosen
        else:
            checked = (existing is not None and not elsewhere) or (first_time and calendar.is_primary)
        rows.append(
            {
                "calendar": calendar,
                "checked": checked and not elsewhere,
                "elsewhere": existing.account if elsewhere and existing else None,
            }
        )
    return rows


def _after_connect(request: HttpRequest, account: ProviderAccount, return_url: str = "") -> HttpResponse:
    if account.calendars.exists():
        # A reconnect: back to where the person started (a local path, checked when the state was made).
        messages.success(request, f"Reconnected {account}. Its calendars sync again.")
        return redirect(return_url or "connections")
    messages.success(request, f"Connected {account}. Choose the calendars to sync.")
    return redirect("connections_choose", account_id=account.pk)


def _refused(request: HttpRequest, provider: str, message: str, status: int = 400) -> HttpResponse:
    return render(
        request, "connections/refused.html", {"label": Provider(provider).label, "message": message}, status=status
    )


def _audit_refusal(request: HttpRequest, provider: str, *, reason: str, error: str = "") -> None:
    metadata = {"provider": provider, "reason": reason}
    if error:
        metadata["error"] = error
    record(action=AuditAction.CONNECTION_OAUTH_REFUSED, actor=request.user, request=request, metadata=metadata)


def _too_many(request: HttpRequest) -> HttpResponse:
    return render(request, "429.html", status=429)


def _redirect_uri(request: HttpRequest, provider: str) -> str:
    return absolute_url(reverse("connections_callback", kwargs={"provider": provider}), request)


def _own_account(request: HttpRequest, account_id: str | None, provider: str) -> ProviderAccount | None:
    if not account_id or not account_id.isdigit():
        return None
    return get_object_or_404(ProviderAccount, pk=int(account_id), user=request.user, provider=provider)


def _adapter(provider: str) -> ProviderAdapter:
    adapter = adapter_for(provider)
    if adapter is None:
        raise Http404
    return adapter


def _oauth_adapter(provider: str) -> ProviderAdapter:
    if provider not in OAUTH_PROVIDERS:
        raise Http404
    return _adapter(provider)


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # login_required ran; this narrows the type
        raise PermissionDenied
    return request.user


def _session_key(request: HttpRequest) -> str:
    if not request.session.session_key:
        request.session.save()
    return str(request.session.session_key)
