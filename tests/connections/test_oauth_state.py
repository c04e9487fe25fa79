"""The OAuth state: random, bound to person, browser and provider, 15 minutes, consumed exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connections
from django.utils.timezone import now

from audit.models import AuditAction, AuditLog
from connections.models import OAuthState
from connections.oauth_state import (
    STATE_BYTES,
    OAuthStateRefused,
    Refusal,
    oauth_state_consume,
    oauth_state_create,
)

BROWSER = "session-key-of-the-browser-that-started-it"
FLOW = {"code_verifier": "v" * 64, "redirect_uri": "https://calsync.example/connections/google/callback/"}


@pytest.fixture
def pending(owner) -> OAuthState:
    return oauth_state_create(user=owner, session_key=BROWSER, provider="google", flow=FLOW, return_url="/calendars/")


def consume(user, state: str | None, *, session_key: str | None = BROWSER, provider: str = "google") -> OAuthState:
    return oauth_state_consume(state=state, user=user, session_key=session_key, provider=provider)


def refusal(user, state: str | None, **kwargs) -> Refusal:
    with pytest.raises(OAuthStateRefused) as refused:
        consume(user, state, **kwargs)
    return refused.value.reason


def test_it_is_random_long_and_expires_in_15_minutes(pending, owner):
    other = oauth_state_create(user=owner, session_key=BROWSER, provider="google", flow=None)
    assert pending.state != other.state
    assert len(pending.state) >= STATE_BYTES * 4 // 3  # url-safe base64 of 32 random bytes
    assert timedelta(minutes=14) < pending.expires_at - now() <= timedelta(minutes=15)


def test_the_right_callback_gets_the_flow_back_once(pending, owner):
    taken = consume(owner, pending.state)
    assert taken.flow == FLOW
    assert taken.return_url == "/calendars/"
    assert taken.consumed_at is not None
    assert refusal(owner, pending.state) == Refusal.USED


@pytest.mark.parametrize(
    ("state", "kwargs", "reason"),
    [
        (None, {}, Refusal.MISSING),
        ("", {}, Refusal.MISSING),
        ("made-up-state", {}, Refusal.UNKNOWN),
        ("PENDING", {"session_key": "another-browser"}, Refusal.WRONG_BROWSER),
        ("PENDING", {"session_key": None}, Refusal.WRONG_BROWSER),
        ("PENDING", {"provider": "microsoft"}, Refusal.WRONG_PROVIDER),
    ],
)
def test_it_refuses_and_audits_every_bad_callback(pending, owner, state, kwargs, reason):
    assert refusal(owner, pending.state if state == "PENDING" else state, **kwargs) == reason
    row = AuditLog.objects.get(action=AuditAction.CONNECTION_OAUTH_REFUSED)
    assert row.metadata == {"provider": kwargs.get("provider", "google"), "reason": str(reason)}
    assert OAuthState.objects.get(pk=pending.pk).consumed_at is None  # a bad callback spends nothing


def test_it_refuses_another_persons_state(pending, stranger):
    assert refusal(stranger, pending.state) == Refusal.WRONG_PERSON
    assert AuditLog.objects.get().actor_id == stranger.pk


def test_it_refuses_an_expired_state(pending, owner):
    OAuthState.objects.filter(pk=pending.pk).update(expires_at=now() - timedelta(seconds=1))
    assert refusal(owner, pending.state) == Refusal.EXPIRED


@pytest.mark.parametrize("unsafe", ["https://evil.example/", "//evil.example/path", "javascript:alert(1)", "calendars"])
def test_it_only_returns_to_paths_on_this_site(owner, unsafe):
    state = oauth_state_create(user=owner, session_key=BROWSER, provider="google", flow=None, return_url=unsafe)
    assert state.return_url == "/"


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_callbacks_with_one_state_succeed_exactly_once(owner):
    state = oauth_state_create(user=owner, session_key=BROWSER, provider="google", flow=FLOW).state
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def callback() -> None:
        try:
            start.wait()
            consume(owner, state)
            outcomes.append("connected")
        except OAuthStateRefused as refused:
            outcomes.append(refused.reason)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=callback) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["connected"] + [Refusal.USED] * 19
