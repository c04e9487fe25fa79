"""How big and how long a soak is: small enough by default for a 2-core machine."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SoakConfig:
    users: int = 20  # virtual users, each one person with their own calendars
    seconds: float = 60.0  # how long they browse
    calendars: int = 3  # Google calendars per person
    events: int = 250  # events per calendar at the start
    web_workers: int = 2  # gunicorn processes (WEB_CONCURRENCY; 4 threads each, as deployed)
    sync_workers: int = 2  # Celery worker processes (concurrency 1 each)
    sync_interval: float = 5.0  # a calendar is due again this long after its last sync (270 s in production)
    think: float = 1.0  # mean pause between a user's requests, seconds (uniform over 0-2x)
    mutations_per_second: float = 4.0  # changes made at the fake, over all calendars

    @property
    def ramp(self) -> float:
        """Users start spread over this long: sign-in hashes a password (Argon2), which is meant to be slow."""
        return min(5.0, self.seconds / 5)

    @property
    def mutate_until(self) -> float:
        """The mutator stops this long into the run, so the last syncs see a calendar that holds still."""
        return self.seconds - min(10.0, self.seconds / 5)
