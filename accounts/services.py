"""Account services: the writes the views, tasks and commands of this app share."""

from __future__ import annotations

from accounts.sessions import SessionStore


def sessions_clear_expired() -> int:
    """Delete session rows past their expiry; returns how many went."""
    return SessionStore.clear_expired()
