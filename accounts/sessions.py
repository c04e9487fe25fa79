"""A session engine (SESSION_ENGINE = "accounts.sessions") that stores only a hash of each session key.

Django's database backend uses the raw key as the primary key, and allauth's usersessions copies it too,
so a database dump could be replayed as logins. Here the key exists only in the cookie; the row is found
by SHA-256(key). Keys are 32 random characters from a 36-letter alphabet (~165 bits), so an unsalted hash
cannot be reversed by guessing.

The row also carries the device context (user, user agent, IP, created, last seen) that the
DeviceSessionMiddleware hands over, for the Devices page.

Expiry: `expire_date` is the earliest of the idle limit (SESSION_IDLE_TIMEOUT after the last request),
the absolute limit (SESSION_ABSOLUTE_TIMEOUT after sign-in) and Django's own expiry (set_expiry). Every
save and every touch moves the idle limit on; nothing moves the absolute one. Loading also checks both
limits against the current settings, so shortening them (say, during an incident) takes effect at once.
A key rotated while signed in (a password change) keeps its sign-in time; signing in starts a new one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError
from django.core.exceptions import SuspiciousOperation
from django.db import DatabaseError, IntegrityError, router, transaction
from django.http import HttpRequest
from django.utils import timezone

from calsync.lib.http import ClientInfo

# Key collisions are practically impossible; the bound only stops a loop if something else keeps failing.
CREATE_ATTEMPTS = 5


def hash_session_key(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def current_session_key_hash(request: HttpRequest) -> str | None:
    """The stored id of the session this request belongs to (None when it has none yet)."""
    key = request.session.session_key
    return hash_session_key(key) if key else None


class SessionStore(SessionBase):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self.client: ClientInfo | None = None
        self.last_seen_at: datetime | None = None
        self.created_at: datetime | None = None
        self._signed_in_at_to_keep: datetime | None = None

    @classmethod
    def get_model_class(cls) -> Any:
        from accounts.models import Session

        return Session

    @property
    def model(self) -> Any:
        return self.get_model_class()

    def _db(self) -> str:
        return router.db_for_write(self.model)

    def load(self) -> dict[str, Any]:
        if not self.session_key:
            return {}
        try:
            row = self.model.objects.get(key_hash=hash_session_key(self.session_key), expire_date__gt=timezone.now())
            data = self.decode(row.session_data)
        except (self.model.DoesNotExist, SuspiciousOperation):
            self._session_key = None
            return {}
        if self._past_limits(row.created_at, row.last_seen_at):
            self._session_key = None
            return {}
        self.last_seen_at = row.last_seen_at
        self.created_at = row.created_at
        return data

    def exists(self, session_key: str) -> bool:
        return bool(self.model.objects.filter(key_hash=hash_session_key(session_key)).exists())

    def create(self) -> None:
        for _attempt in range(CREATE_ATTEMPTS):
            self._session_key = self._get_new_session_key()  # type: ignore[attr-defined]  # missing from stubs
            try:
                self.save(must_create=True)
            except CreateError:
                continue  # a key collision: astronomically rare, but draw again rather than overwrite
            self.modified = True
            return
        raise CreateError(f"no unused session key after {CREATE_ATTEMPTS} attempts")

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]  # missing from stubs
        now = timezone.now()
        if must_create or self.created_at is None:
            self.created_at = self._signed_in_at_to_keep or now
            self._signed_in_at_to_keep = None
        fields = {
            "session_data": self.encode(data),
            "expire_date": self._expire_date(now, requested=self.get_expiry_date()),
            "user_id": self._user_id(data),
            "last_seen_at": now,
        }
        if self.client is not None:
            fields["user_agent"] = self.client.user_agent
            fields["ip_address"] = self.client.ip
        key_hash = hash_session_key(self.session_key)
        using = self._db()
        if must_create:
            try:
                with transaction.atomic(using=using):
                    self.model.objects.using(using).create(key_hash=key_hash, created_at=self.created_at, **fields)
            except IntegrityError as exc:
                if self.exists(self.session_key):
                    raise CreateError from exc  # the key is taken: create() draws another
                raise  # anything else (a user deleted meanwhile, ...) is not cured by a new key
        else:
            try:
                with transaction.atomic(using=using):
                    updated = self.model.objects.using(using).filter(key_hash=key_hash).update(**fields)
            except DatabaseError as exc:
                raise UpdateError from exc
            if not updated:
                raise UpdateError
        self.last_seen_at = now

    def cycle_key(self) -> None:
        # Rotating an already signed-in session keeps its sign-in time (and so its absolute limit).
        if SESSION_KEY in self._get_session():  # type: ignore[attr-defined]  # missing from stubs
            self._signed_in_at_to_keep = self.created_at
        super().cycle_key()

    def touch(self) -> None:
        """Refresh last_seen_at, the idle expiry and the device's current IP, at most every SESSION_TOUCH_INTERVAL."""
        if not self.session_key or self.last_seen_at is None:
            return
        now = timezone.now()
        if now - self.last_seen_at < timedelta(seconds=settings.SESSION_TOUCH_INTERVAL):
            return
        fields: dict[str, Any] = {
            "last_seen_at": now,
            "expire_date": self._expire_date(now, requested=self.get_expiry_date()),
        }
        if self.client is not None:
            fields["ip_address"] = self.client.ip
        self.model.objects.filter(key_hash=hash_session_key(self.session_key)).update(**fields)
        self.last_seen_at = now

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        self.model.objects.filter(key_hash=hash_session_key(session_key)).delete()

    @classmethod
    def clear_expired(cls) -> None:
        sessions_clear_expired()

    @staticmethod
    def _past_limits(created_at: datetime, last_seen_at: datetime) -> bool:
        now = timezone.now()
        idle = timedelta(seconds=settings.SESSION_IDLE_TIMEOUT)
        absolute = timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT)
        return now - last_seen_at >= idle or now - created_at >= absolute

    def _expire_date(self, now: datetime, *, requested: datetime) -> datetime:
        idle_limit = now + timedelta(seconds=settings.SESSION_IDLE_TIMEOUT)
        absolute_limit = (self.created_at or now) + timedelta(seconds=settings.SESSION_ABSOLUTE_TIMEOUT)
        return min(requested, idle_limit, absolute_limit)

    @staticmethod
    def _user_id(data: dict[str, Any]) -> Any:
        raw = data.get(SESSION_KEY)
        if raw is None:
            return None
        return get_user_model()._meta.pk.to_python(raw)


def sessions_clear_expired() -> int:
    """Delete session rows past their expiry; returns how many went."""
    deleted, _ = SessionStore.get_model_class().objects.filter(expire_date__lt=timezone.now()).delete()
    return int(deleted)
