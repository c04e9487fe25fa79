"""OAuth `state`: the seed's CSRF protection, done right.

A state is 32 random bytes from `secrets`, kept server-side with the user, a hash of the browser session,
the provider, the client library's flow (with the PKCE verifier, encrypted) and where to go afterwards.
It lives 15 minutes and is consumed exactly once by a single conditional UPDATE, so two callbacks racing
with the same state cannot both succeed. Every refusal says why, for the page and the audit row.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timezone import now

from accounts.models import User
from accounts.sessions import hash_session_key
from audit.models import AuditAction
from audit.services import record
from connections.models import OAuthState

STATE_BYTES = 32
STATE_LIFETIME = timedelta(minutes=15)
DEFAULT_RETURN_URL = "/"


class Refusal(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    WRONG_PERSON = "wrong_person"
    WRONG_BROWSER = "wrong_browser"
    WRONG_PROVIDER = "wrong_provider"


REFUSAL_MESSAGES = {
    Refusal.MISSING: "The provider sent you back without the sign-in reference we gave it.",
    Refusal.UNKNOWN: "We do not recognise this sign-in. Please start connecting again.",
    Refusal.EXPIRED: "This sign-in took longer than 15 minutes and has expired. Please start again.",
    Refusal.USED: "This sign-in was already completed. If a calendar is missing, connect it again.",
    Refusal.WRONG_PERSON: "This sign-in was started by a different calsync account.",
    Refusal.WRONG_BROWSER: "This sign-in was started in a different browser or session.",
    Refusal.WRONG_PROVIDER: "This sign-in was started for a different provider.",
}


class OAuthStateRefused(Exception):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(REFUSAL_MESSAGES[reason])
        self.reason = reason


def oauth_state_create(
    *, user: User, session_key: str, provider: str, flow: dict[str, Any] | None, return_url: str = ""
) -> OAuthState:
    """A fresh state for one authorization; `return_url` must be a path on this site."""
    safe_return = return_url if _is_local_path(return_url) else DEFAULT_RETURN_URL
    return OAuthState.objects.create(
        state=secrets.token_urlsafe(STATE_BYTES),
        user=user,
        session_key_hash=hash_session_key(session_key),
        provider=provider,
        flow=flow,
        return_url=safe_return,
        expires_at=now() + STATE_LIFETIME,
    )


def oauth_state_consume(
    *, state: str | None, user: User, session_key: str | None, provider: str, request: HttpRequest | None = None
) -> OAuthState:
    """Take the state for this user, browser and provider, exactly once; raise OAuthStateRefused otherwise.

    A refusal writes an audit row; the callback view answers it with a page (it does not raise), so the
    row commits with the request.
    """
    if state and session_key:
        claimed = _claim(state=state, user=user, session_key_hash=hash_session_key(session_key), provider=provider)
        if claimed is not None:
            return claimed
    reason = _why_refused(state=state, user=user, session_key=session_key, provider=provider)
    _record_refusal(reason, user=user, provider=provider, request=request)
    raise OAuthStateRefused(reason)


# One statement, so exactly one of any number of concurrent callbacks with the same state gets the row (the
# row lock makes the others re-check `consumed_at IS NULL` and find it set), in one round trip.
_CLAIM_SQL = """
    UPDATE oauth_states SET consumed_at = %(moment)s
     WHERE state = %(state)s AND user_id = %(user_id)s AND session_key_hash = %(session_key_hash)s
       AND provider = %(provider)s AND consumed_at IS NULL AND expires_at > %(moment)s
    RETURNING *
"""


def _claim(*, state: str, user: User, session_key_hash: str, provider: str) -> OAuthState | None:
    params = {"moment": now(), "state": state, "user_id": user.pk, "session_key_hash": session_key_hash}
    return next(iter(OAuthState.objects.raw(_CLAIM_SQL, params | {"provider": provider})), None)


def oauth_states_stale(*, at: datetime | None = None) -> QuerySet[OAuthState]:
    """States that can never be used again: expired, or consumed by their callback."""
    return OAuthState.objects.filter(Q(expires_at__lt=at or now()) | Q(consumed_at__isnull=False))


def oauth_states_delete_stale() -> int:
    """Delete expired and consumed states (a replayed state is then refused as unknown); returns how many."""
    deleted, _ = oauth_states_stale().delete()  # nothing refers to a state: one DELETE statement
    return deleted


def _why_refused(*, state: str | None, user: User, session_key: str | None, provider: str) -> Refusal:
    if not state:
        return Refusal.MISSING
    row = OAuthState.objects.filter(state=state).first()
    if row is None:
        return Refusal.UNKNOWN
    if row.user_id != user.pk:
        return Refusal.WRONG_PERSON
    if not session_key or row.session_key_hash != hash_session_key(session_key):
        return Refusal.WRONG_BROWSER
    if row.provider != provider:
        return Refusal.WRONG_PROVIDER
    if row.consumed_at is not None:
        return Refusal.USED
    return Refusal.EXPIRED


def _record_refusal(reason: Refusal, *, user: User, provider: str, request: HttpRequest | None) -> None:
    record(
        action=AuditAction.CONNECTION_OAUTH_REFUSED,
        actor=user,
        request=request,
        metadata={"provider": provider, "reason": str(reason)},
    )


def _is_local_path(url: str) -> bool:
    return bool(url) and url.startswith("/") and url_has_allowed_host_and_scheme(url, allowed_hosts=None)
