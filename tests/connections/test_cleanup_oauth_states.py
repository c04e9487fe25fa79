"""The 15-minute job deletes OAuth states that can never be used again, and only those."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils.timezone import now

from connections.models import OAuthState
from connections.tasks import cleanup_oauth_states


def state(owner, name: str, *, expires_in: timedelta, consumed: bool = False) -> OAuthState:
    return OAuthState.objects.create(
        state=name,
        user=owner,
        session_key_hash="0" * 64,
        provider="google",
        flow={"code_verifier": "v"},
        expires_at=now() + expires_in,
        consumed_at=now() if consumed else None,
    )


def make_states(owner) -> None:
    state(owner, "expired", expires_in=-timedelta(seconds=1))
    state(owner, "consumed", expires_in=timedelta(minutes=10), consumed=True)
    state(owner, "pending", expires_in=timedelta(minutes=10))


def test_it_deletes_expired_and_consumed_states(owner):
    make_states(owner)
    assert cleanup_oauth_states.apply().get() == 2
    assert list(OAuthState.objects.values_list("state", flat=True)) == ["pending"]


def test_the_command_counts_on_a_dry_run_and_deletes_otherwise(owner):
    make_states(owner)
    out = StringIO()
    call_command("cleanup_oauth_states", "--dry-run", stdout=out)
    assert "2 expired or consumed OAuth states would be deleted (dry run)." in out.getvalue()
    assert OAuthState.objects.count() == 3
    call_command("cleanup_oauth_states", stdout=out)
    assert "2 expired or consumed OAuth states deleted." in out.getvalue()
    assert OAuthState.objects.count() == 1
