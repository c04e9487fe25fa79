"""Audit rows for what Django and allauth do on the person's behalf (sign-in, sign-up, passwords, MFA).

Requests run in one transaction (ATOMIC_REQUESTS), so each row commits with the change it describes.
The exception is two-factor: allauth sends its MFA signals from transaction.on_commit, so those rows are
written right after the change commits rather than inside its transaction.
"""

from __future__ import annotations

from typing import Any

from allauth.account import signals as account_signals
from allauth.mfa import signals as mfa_signals
from allauth.mfa.models import Authenticator
from django.contrib.auth import signals as auth_signals
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.dispatch import receiver
from django.http import HttpRequest

from accounts.models import User, normalize_email
from accounts.services import sessions_end_others
from accounts.sessions import current_session_key_hash
from audit.models import AuditAction
from audit.services import record


@receiver(account_signals.user_signed_up, dispatch_uid="audit_signed_up")
def audit_signed_up(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    record(action=AuditAction.ACCOUNT_SIGNED_UP, actor=user, request=request)


@receiver(auth_signals.user_logged_in, dispatch_uid="audit_signed_in")
def audit_signed_in(sender: Any, request: HttpRequest | None, user: User, **kwargs: Any) -> None:
    record(action=AuditAction.ACCOUNT_SIGNED_IN, actor=user, request=request)


@receiver(auth_signals.user_login_failed, dispatch_uid="audit_sign_in_failed")
def audit_sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any
) -> None:
    # Django has already masked the password in `credentials`; only the address tried is kept, and only
    # when it is one: a password typed into the address box must not stay in the log for good.
    attempted = well_formed_address(str(credentials.get("email") or credentials.get("username") or ""))
    subject = User.objects.filter(email=normalize_email(attempted)).first() if attempted else None
    record(
        action=AuditAction.ACCOUNT_SIGN_IN_FAILED,
        subject=subject,
        request=request,
        metadata={"email": attempted, "step": "password"} if attempted else {"step": "password"},
    )


def well_formed_address(typed: str) -> str:
    """`typed` if it is an email address, else the empty string."""
    try:
        validate_email(typed)
    except ValidationError:
        return ""
    return typed


@receiver(mfa_signals.authentication_failed, dispatch_uid="audit_mfa_failed")
def audit_mfa_failed(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    record(action=AuditAction.ACCOUNT_SIGN_IN_FAILED, subject=user, request=request, metadata={"step": "mfa"})


@receiver(auth_signals.user_logged_out, dispatch_uid="audit_signed_out")
def audit_signed_out(sender: Any, request: HttpRequest | None, user: User | None, **kwargs: Any) -> None:
    if user is not None:
        record(action=AuditAction.ACCOUNT_SIGNED_OUT, actor=user, request=request)


@receiver(account_signals.password_changed, dispatch_uid="audit_password_changed")
@receiver(account_signals.password_set, dispatch_uid="audit_password_set")
def audit_password_changed(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    record(action=AuditAction.ACCOUNT_PASSWORD_CHANGED, actor=user, request=request)
    end_other_sessions(request, user)


@receiver(account_signals.password_reset, dispatch_uid="audit_password_reset")
def audit_password_reset(sender: Any, request: HttpRequest, user: User, **kwargs: Any) -> None:
    record(action=AuditAction.ACCOUNT_PASSWORD_RESET, actor=user, request=request)
    end_other_sessions(request, user)


def end_other_sessions(request: HttpRequest, user: User) -> None:
    """A new password signs every other device out at once (and off the Devices page), not only when
    each of them next makes a request and fails Django's session-hash check."""
    keep = current_session_key_hash(request) if request.user == user else None
    sessions_end_others(user=user, keep_key_hash=keep, request=request)


@receiver(mfa_signals.authenticator_added, dispatch_uid="audit_mfa_enabled")
def audit_mfa_enabled(
    sender: Any, request: HttpRequest, user: User, authenticator: Authenticator, **kwargs: Any
) -> None:
    if authenticator.type == Authenticator.Type.TOTP:
        record(action=AuditAction.ACCOUNT_MFA_ENABLED, actor=user, request=request, metadata={"type": "totp"})


@receiver(mfa_signals.authenticator_removed, dispatch_uid="audit_mfa_disabled")
def audit_mfa_disabled(
    sender: Any, request: HttpRequest, user: User, authenticator: Authenticator, **kwargs: Any
) -> None:
    if authenticator.type == Authenticator.Type.TOTP:
        record(action=AuditAction.ACCOUNT_MFA_DISABLED, actor=user, request=request, metadata={"type": "totp"})
