from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime

from allauth.account.decorators import reauthentication_required
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.exports import export_ics, export_json
from accounts.forms import DeleteAccountForm, ProfileForm
from accounts.models import User
from accounts.selectors import devices_for
from accounts.services import SessionNotFound, account_delete, session_end, sessions_end_others, user_update_profile
from accounts.sessions import current_session_key_hash
from audit.models import AuditAction
from audit.services import record


def signed_in_user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # login_required has already turned visitors away
        raise PermissionDenied
    return request.user


def posted(request: HttpRequest) -> QueryDict | None:
    """The form data of a POST (even an empty one, so it is validated), None otherwise."""
    return request.POST if request.method == "POST" else None


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def settings_view(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = ProfileForm(posted(request), instance=User.objects.get(pk=user.pk))
    if request.method == "POST" and form.is_valid():
        user_update_profile(user=user, **{name: form.cleaned_data[name] for name in ("name", "timezone", "week_start")})
        messages.success(request, "Settings saved.")
        return redirect("account_settings")
    return render(request, "accounts/settings.html", {"form": form})


@login_required
@require_safe
def devices_view(request: HttpRequest) -> HttpResponse:
    devices = devices_for(user=signed_in_user(request), current_key_hash=current_session_key_hash(request))
    return render(request, "accounts/devices.html", {"devices": devices})


@login_required
@require_POST
def device_sign_out(request: HttpRequest, key_hash: str) -> HttpResponse:
    if key_hash == current_session_key_hash(request):
        return redirect("account_logout")  # this device signs out through the normal sign-out
    try:
        session_end(user=signed_in_user(request), key_hash=key_hash, request=request)
    except SessionNotFound:
        raise Http404("No such session.") from None
    messages.success(request, "That device is signed out.")
    return redirect("account_devices")


@login_required
@require_POST
def devices_sign_out_others(request: HttpRequest) -> HttpResponse:
    ended = sessions_end_others(
        user=signed_in_user(request), keep_key_hash=current_session_key_hash(request), request=request
    )
    messages.success(request, f"Signed out of {ended} other device{'s' if ended != 1 else ''}.")
    return redirect("account_devices")


@login_required
@reauthentication_required
@require_http_methods(["GET", "HEAD", "POST"])
def delete_account_view(request: HttpRequest) -> HttpResponse:
    user = signed_in_user(request)
    form = DeleteAccountForm(posted(request))
    if request.method == "POST" and form.is_valid():
        account_delete(user=user, request=request)
        request.session.flush()  # the row is already gone; this drops the cookie and request.user
        messages.success(request, "Your account has been deleted. We are sorry to see you go.")
        return redirect("home")
    return render(request, "accounts/delete.html", {"form": form})


# Everything calsync holds about the person: asks for the password again, like the other sensitive pages.
@login_required
@reauthentication_required
@require_safe
def export_view(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/export.html")


EXPORT_FORMATS: dict[str, tuple[Callable[[User], Iterator[str] | Iterator[bytes]], str]] = {
    "json": (export_json, "application/json"),
    "ics": (export_ics, "text/calendar; charset=utf-8"),
}


@login_required
@reauthentication_required
@require_safe
def export_download_view(request: HttpRequest, extension: str) -> StreamingHttpResponse:
    user = signed_in_user(request)
    generate, content_type = EXPORT_FORMATS[extension]
    record(action=AuditAction.ACCOUNT_DATA_EXPORTED, actor=user, request=request, metadata={"format": extension})
    response = StreamingHttpResponse(generate(user), content_type=content_type)
    filename = f"calsync-{datetime.now(user.zone):%Y-%m-%d}.{extension}"  # the date where the person is
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
