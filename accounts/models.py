from __future__ import annotations

import zoneinfo
from typing import Any, ClassVar

from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.timezone import now

from calsync.lib.indexes import Index


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone name.", code="invalid_timezone")


def normalize_email(email: str) -> str:
    """Emails are stored lower-cased, which makes the plain unique index case-insensitive.

    allauth lower-cases every address it looks up and compares with `=`, so a plain index on the column
    serves its sign-in lookup; an index on LOWER(email) would not.
    """
    return email.strip().lower()


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


class UserQuerySet(models.QuerySet["User"]):
    def alive(self) -> UserQuerySet:
        return self.filter(deleted_at__isnull=True)


class UserManager(BaseUserManager["User"]):
    """The default manager: only people who have not deleted their account.

    Every lookup through it (sign-in, sign-up uniqueness, password reset) carries `deleted_at IS NULL`,
    which is what lets PostgreSQL use the partial index users_email_key.
    """

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db).alive()

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=normalize_email(username or ""))

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **fields)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        """An operator's account (createsuperuser). The address counts as verified: the operator typed it
        on the server, and staff sign in through allauth, which requires a verified address."""
        from allauth.account.models import EmailAddress

        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        user = self.create_user(email, password, **fields)
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        return user


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField("email address", max_length=254)
    name = models.CharField(max_length=150, blank=True)
    timezone = models.CharField(
        max_length=64, default="UTC", validators=[validate_timezone], help_text="IANA time zone name."
    )
    week_start = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin site.")
    created_at = models.DateTimeField(default=now)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Set when the person deleted the account.")

    objects: ClassVar[UserManager] = UserManager()
    # Everyone, deleted or not: for the admin and the purge job.
    all_objects: ClassVar[models.Manager[User]] = models.Manager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        db_table = "users"
        constraints: ClassVar[list[Any]] = [
            # Sign-in lookup (`email = %s AND deleted_at IS NULL`); a deleted person's address can sign up again.
            models.UniqueConstraint(
                fields=["email"], condition=models.Q(deleted_at__isnull=True), name="users_email_key"
            ),
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="users_email_lowercase"),
            models.CheckConstraint(
                condition=models.Q(deleted_at__isnull=True) | models.Q(is_active=False),
                name="users_deleted_are_inactive",
            ),
            models.CheckConstraint(condition=models.Q(week_start__lte=6), name="users_week_start_weekday"),
        ]
        indexes: ClassVar[list[Any]] = [
            # The daily purge: users soft-deleted more than 30 days ago.
            Index(fields=["deleted_at"], condition=models.Q(deleted_at__isnull=False), name="users_deleted_at_idx"),
        ]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = normalize_email(self.email)
        super().save(*args, **kwargs)

    def validate_constraints(self, exclude: Any = None) -> None:
        # Django skips the partial users_email_key whenever a form leaves out `deleted_at` (every form
        # does), so email uniqueness is checked in validate_unique() for every caller instead.
        super().validate_constraints(exclude={*(exclude or ()), "email"})

    def validate_unique(self, exclude: Any = None) -> None:
        super().validate_unique(exclude)
        if (exclude and "email" in exclude) or self.deleted_at is not None:
            return
        if User.objects.filter(email=normalize_email(self.email)).exclude(pk=self.pk).exists():
            message = "A person with this email address already exists."
            raise ValidationError({"email": ValidationError(message, code="unique")})

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)


class Sha256HexField(models.CharField):
    """A hex SHA-256 digest as a fixed-width column.

    `char(64)` rather than varchar spares PostgreSQL the extra `_like` pattern index Django adds to
    varchar keys; nobody searches hashes by prefix.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["max_length"] = 64
        super().__init__(*args, **kwargs)

    def db_type(self, connection: Any) -> str:
        return "char(64)"


class Session(models.Model):
    """A server-side session, keyed by the SHA-256 of its key, with the device it belongs to.

    The cookie holds the key; only its hash is stored, so a copy of this table cannot sign anyone in.
    """

    key_hash = Sha256HexField(primary_key=True)
    session_data = models.TextField()
    expire_date = models.DateTimeField()
    user = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions", db_index=False
    )
    user_agent = models.CharField(max_length=512, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=now)
    last_seen_at = models.DateTimeField(default=now)

    class Meta:
        db_table = "sessions"
        indexes: ClassVar[list[Any]] = [
            # The Devices page and "sign out everywhere": a user's sessions, most recent first.
            Index(
                "user",
                models.F("last_seen_at").desc(),
                condition=models.Q(user__isnull=False),
                name="sessions_user_idx",
            ),
            # clear_expired(): `expire_date < now()`.
            Index(fields=["expire_date"], name="sessions_expire_date_idx"),
        ]

    def __str__(self) -> str:
        return f"session of {self.user_id or 'anonymous'} from {self.ip_address or 'unknown'}"
