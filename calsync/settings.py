"""Settings for calsync, read from the environment only (12-factor).

Every variable is documented in `.env.example` and the README. With DEBUG off (the default), a missing
SECRET_KEY or ENCRYPTION_KEYS stops start-up with a message naming the variable; `make run` turns DEBUG on
and gets development fallbacks instead.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from calsync.lib.crypto import DEV_ENCRYPTION_KEYS, Keyring, KeyringError

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name)
    if not raw:
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}.")


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
VAR_DIR = Path(env_str("CALSYNC_VAR_DIR") or BASE_DIR / "var")


def required_secret(name: str, development_fallback: str) -> str:
    value = env_str(name)
    if value:
        return value
    if DEBUG:
        return development_fallback
    raise ImproperlyConfigured(
        f"{name} is not set. calsync refuses to start without it while DEBUG is off; "
        f"see .env.example for how to generate one."
    )


DEV_SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105  # nosec B105  # public on purpose
SECRET_KEY = required_secret("SECRET_KEY", DEV_SECRET_KEY)

# `id:base64key` pairs; the first encrypts, all decrypt (calsync.lib.crypto). Parsed here so a malformed
# value stops start-up instead of failing on the first secret read.
ENCRYPTION_KEYS = required_secret("ENCRYPTION_KEYS", DEV_ENCRYPTION_KEYS)
try:
    _keyring = Keyring.parse(ENCRYPTION_KEYS)
except KeyringError as exc:
    raise ImproperlyConfigured(f"ENCRYPTION_KEYS is malformed: {exc}") from None
if not DEBUG and (SECRET_KEY == DEV_SECRET_KEY or _keyring.holds_any_of(DEV_ENCRYPTION_KEYS)):
    raise ImproperlyConfigured(
        "SECRET_KEY or ENCRYPTION_KEYS holds a public development value; generate real ones (.env.example)."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The public address, for links in emails sent by workers and for OAuth redirect URIs (which must match
# what is registered at Google and Microsoft). Blank: taken from each request (workers use localhost).
SITE_URL = env_str("SITE_URL").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "calsync.apps.CalsyncConfig",
    "accounts",
    "connections",
    "events",
    "audit",
    "demo",
]

MIDDLEWARE = [
    "calsync.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "calsync.middleware.BrowserPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "accounts.middleware.DeviceSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "calsync.middleware.PrivatePagesMiddleware",
    "accounts.middleware.UserTimezoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "calsync.urls"
WSGI_APPLICATION = "calsync.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
# PostgreSQL in production and tests; SQLite only as the zero-setup default of `make run`.
DATABASE_URL = env_str("DATABASE_URL")
if not DATABASE_URL:
    VAR_DIR.mkdir(parents=True, exist_ok=True)  # the zero-setup SQLite file lives here
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL or f"sqlite:///{VAR_DIR / 'calsync.sqlite3'}",
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
# Each request is one transaction: a change and its audit row commit together, or neither does.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and sessions ------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    # allauth's, counting an address only for the account that proved it (accounts.selectors).
    "accounts.backends.EmailOwnerAuthenticationBackend",
]
# auth.W004 says USERNAME_FIELD is not unique: email is unique only among users that are not deleted
# (the partial index users_email_key), and both backends look users up through that index.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]

# Argon2id for every new or re-hashed password; bcrypt (the original design's choice, and what imported
# accounts carry) and PBKDF2 are still accepted and upgraded to Argon2id at the next sign-in.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Our own session store keeps only a SHA-256 of each key (accounts.sessions).
SESSION_ENGINE = "accounts.sessions"
# A session ends after this long without a request (idle), and in any case this long after sign-in
# (absolute); the browser cookie lives as long as the absolute limit.
SESSION_IDLE_TIMEOUT = env_int("SESSION_IDLE_TIMEOUT", 14 * 24 * 3600)
SESSION_ABSOLUTE_TIMEOUT = env_int("SESSION_ABSOLUTE_TIMEOUT", 30 * 24 * 3600)
SESSION_COOKIE_AGE = SESSION_ABSOLUTE_TIMEOUT
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
# How stale `last_seen_at` may get before a request refreshes it (one UPDATE at most this often).
SESSION_TOUCH_INTERVAL = env_int("SESSION_TOUCH_INTERVAL", 300)
# Number of reverse proxies in front of the app whose X-Forwarded-For entries we trust (calsync.lib.http).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT  # allauth's rate limits count the same client

ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupProfileForm"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
# An address is proved by a code emailed to it and typed into the browser that asked for it. An added
# address is stored only once proved, so nobody can park someone else's address on their account, and
# no link the address's owner clicks can finish a sign-up someone else started.
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = True
# Sign-up, reset and codes count an address only for the account that proved it (accounts.allauth_forms).
ACCOUNT_FORMS = {
    "signup": "accounts.allauth_forms.SignupForm",
    "reset_password": "accounts.allauth_forms.ResetPasswordForm",  # nosec B105  # a form, not a password
    "confirm_email_verification_code": "accounts.allauth_forms.ConfirmEmailVerificationCodeForm",
}
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
# A password change keeps this session and ends every other one (accounts.signals).
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
# A reset from the emailed link signs that browser in (two-factor still asked), so a sign-in lock-out
# held by someone else cannot keep the owner out.
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
# Adding an email address, changing the password, two-factor changes and deleting the account all ask
# for the password (or a second factor) again, so a borrowed session cannot take the account over.
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_EMAIL_NOTIFICATIONS = True  # tell people when their password or email changes
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[calsync] "
# allauth's limits, spelled out: failed sign-ins per IP and per address, sign-ups and resets per IP.
ACCOUNT_RATE_LIMITS = {
    # An address is locked after 10 failures in 15 minutes. One client gets 20 failures an hour, so a
    # stranger needs many addresses to keep someone's sign-in locked; the owner can always reset the
    # password, which clears the lock and signs them in (ACCOUNT_LOGIN_ON_PASSWORD_RESET).
    "login_failed": "10/m/ip,20/h/ip,10/15m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",  # nosec B105  # a rate, not a password
    "reset_password_from_key": "20/m/ip",  # nosec B105  # a rate, not a password
    # One code to an address per 10 s (allauth's default with codes: a code that cannot be sent is a 429,
    # since only the newest code in the session works, so a long cooldown would block sign-ups).
    "confirm_email": "1/10s/key",
    "change_password": "5/m/user",  # nosec B105  # a rate, not a password
    "reauthenticate": "10/m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "calsync"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"

# --- Security headers -----------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
# Off by default: they commit every subdomain (and, once preloaded, browsers) to HTTPS for a long time.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Email ----------------------------------------------------------------------------------------
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "calsync <noreply@localhost>")
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

# --- Redis, cache and Celery ----------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    # Shared by every web process, so rate limits hold across gunicorn workers.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_DIR = VAR_DIR / "celery"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Zero-setup transport: processes on one machine exchange messages through folders (`make run`).
    # Every folder is named, or kombu writes a `control/` folder into the working directory.
    _broker_folders = {name: CELERY_BROKER_DIR / name for name in ("queue", "processed", "control")}
    for _folder in _broker_folders.values():
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folders["queue"]),
        "data_folder_out": str(_broker_folders["queue"]),
        "processed_folder": str(_broker_folders["processed"]),
        "control_folder": str(_broker_folders["control"]),
        "store_processed": False,
    }
else:
    # A task unacknowledged this long is handed to another worker; longer than the hard time limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CONCURRENCY = env_int("WORKER_CONCURRENCY", 0) or None  # None: one process per CPU
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
CELERY_TIMEZONE = "UTC"
# One queue name for every task; tests give each run of a real worker and beat a queue of its own.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
DJANGO_CELERY_BEAT_TZ_AWARE = True

# --- Sync ---------------------------------------------------------------------------------------------
SYNC_RUN_RETENTION_DAYS = env_int("SYNC_RUN_RETENTION_DAYS", 30)
# How long one request to a provider may wait for the connection or for the next bytes of its answer.
PROVIDER_TIMEOUT_SECONDS = env_int("PROVIDER_TIMEOUT_SECONDS", 15)
# Retries of one provider request (429, 5xx, timeouts): exponential backoff with full jitter from this base.
# A wait longer than the cap (a long Retry-After) is not slept through: the connection backs off instead.
PROVIDER_RETRY_ATTEMPTS = 4
PROVIDER_RETRY_BASE_SECONDS = 1.0
PROVIDER_RETRY_MAX_WAIT_SECONDS = 30.0
# A worker's claim on a connection's sync, renewed before a request once a third of it has passed; a
# crashed worker's claim lapses after it, so this is also how long its calendar waits to be synced again.
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 300)
# Between two renewals a worker may wait for one request and one retry pause: the lease must outlast both
# with room to spare, or a slow but live worker loses its calendar to a second one.
if SYNC_LEASE_SECONDS < 2 * (PROVIDER_TIMEOUT_SECONDS + PROVIDER_RETRY_MAX_WAIT_SECONDS):
    raise ImproperlyConfigured(
        f"SYNC_LEASE_SECONDS ({SYNC_LEASE_SECONDS}) must be at least twice PROVIDER_TIMEOUT_SECONDS plus "
        f"{PROVIDER_RETRY_MAX_WAIT_SECONDS:.0f} s of retry pause: "
        f"{2 * (PROVIDER_TIMEOUT_SECONDS + PROVIDER_RETRY_MAX_WAIT_SECONDS):.0f} or more."
    )
# Backoff of a connection whose sync failed: base * 2**failures with jitter, capped.
SYNC_BACKOFF_BASE_SECONDS = 60
SYNC_BACKOFF_MAX_SECONDS = 6 * 60 * 60
# A full resync that would delete more than this share of a calendar (and more than the count) is held.
SYNC_SWEEP_HOLD_FRACTION = 0.5
SYNC_SWEEP_HOLD_MIN_EVENTS = 20
# Pages with at least this many new or changed events are written with COPY and one merge (events.upsert);
# smaller ones with bulk_create, which spares a temporary table for the usual incremental page of a few.
SYNC_COPY_MIN_ROWS = 100

# The periodic fan-out queues connections not synced for this long (a little under its 5-minute period,
# so a connection synced just after the previous round is not skipped until the one after).
SYNC_INTERVAL_SECONDS = env_int("SYNC_INTERVAL_SECONDS", 270)
# A queued sync that has not started after this long is queued again: its message may have been lost (a
# broker restart), and a lost one must wait no more than one round. A message that was only slow is then
# dropped by the worker, which sees the calendar synced since it was queued (events.tasks).
SYNC_QUEUED_STALE_SECONDS = env_int("SYNC_QUEUED_STALE_SECONDS", SYNC_INTERVAL_SECONDS)
# Refresh tokens lapse when unused (Google: six months, Microsoft: 90 days): refresh idle ones weekly.
CREDENTIALS_IDLE_DAYS = env_int("CREDENTIALS_IDLE_DAYS", 7)
# One recurring series shows at most this many occurrences a day, and this many in one page's window
# (events.recurrence): a rule that repeats every minute must not cost a page seconds. The rest is marked
# as not shown. 48 a day keeps "every half hour" whole; a week of them fits the window's limit.
RECURRENCE_MAX_PER_DAY = env_int("RECURRENCE_MAX_PER_DAY", 48)
RECURRENCE_MAX_PER_WINDOW = env_int("RECURRENCE_MAX_PER_WINDOW", 500)
# All series of one page together (a week, the detail panel): many hostile series cost no more than this.
RECURRENCE_MAX_PER_PAGE = env_int("RECURRENCE_MAX_PER_PAGE", 2000)

# An open week page asks this often whether what it shows changed (one cheap query), and redraws if so.
WEEK_REFRESH_SECONDS = env_int("WEEK_REFRESH_SECONDS", 10)

# --- Two-way sync ----------------------------------------------------------------------------------
# A change made in calsync is pushed at once; a transient failure is retried with backoff (base * 2**n,
# jittered, capped) this many times in all before the change shows "failed" with a retry button.
PUSH_MAX_ATTEMPTS = 6
PUSH_BACKOFF_BASE_SECONDS = 30
PUSH_BACKOFF_MAX_SECONDS = 60 * 60
# A change still waiting this long after it was due has lost its queued task: the periodic sweep queues it.
PUSH_LOST_AFTER_SECONDS = 120
# While a sync holds the connection, its push waits this long and tries again.
PUSH_BUSY_RETRY_SECONDS = 15

# --- Maintenance ------------------------------------------------------------------------------------
# Soft-deleted users and events are erased for good after this many days.
PURGE_AFTER_DAYS = env_int("PURGE_AFTER_DAYS", 30)
# Audit rows older than this are archived to AUDIT_ARCHIVE_DIR and then deleted; unset keeps them all.
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 90)
if AUDIT_RETENTION_DAYS < 30:  # audit.archive.MIN_ARCHIVE_DAYS: the database keeps younger rows regardless
    raise ImproperlyConfigured(f"AUDIT_RETENTION_DAYS must be at least 30, got {AUDIT_RETENTION_DAYS}.")
AUDIT_ARCHIVE_DIR = env_str("AUDIT_ARCHIVE_DIR")

# --- Calendar providers ---------------------------------------------------------------------------
# Client credentials and endpoints; endpoints are settings so tests and sovereign clouds can repoint them.
GOOGLE_CLIENT_ID = env_str("GOOGLE_CLIENT_ID")
GOOGLE_CLIENT_SECRET = env_str("GOOGLE_CLIENT_SECRET")
GOOGLE_AUTH_URI = env_str("GOOGLE_AUTH_URI", "https://accounts.google.com/o/oauth2/v2/auth")
GOOGLE_TOKEN_URI = env_str("GOOGLE_TOKEN_URI", "https://oauth2.googleapis.com/token")
GOOGLE_REVOKE_URI = env_str("GOOGLE_REVOKE_URI", "https://oauth2.googleapis.com/revoke")
GOOGLE_API_BASE = env_str("GOOGLE_API_BASE", "https://www.googleapis.com/")
MICROSOFT_CLIENT_ID = env_str("MICROSOFT_CLIENT_ID")
MICROSOFT_CLIENT_SECRET = env_str("MICROSOFT_CLIENT_SECRET")
MICROSOFT_TENANT = env_str("MICROSOFT_TENANT", "common")
MICROSOFT_AUTHORITY_HOST = env_str("MICROSOFT_AUTHORITY_HOST", "https://login.microsoftonline.com")
MICROSOFT_GRAPH_BASE = env_str("MICROSOFT_GRAPH_BASE", "https://graph.microsoft.com/v1.0")
CALDAV_DEFAULT_URL = env_str("CALDAV_DEFAULT_URL", "https://caldav.icloud.com/")
# CalDAV server URLs are user input our workers fetch; private addresses are refused unless allowed here.
CALDAV_ALLOW_PRIVATE_HOSTS = env_bool("CALDAV_ALLOW_PRIVATE_HOSTS", False)
# Or allow only these networks (CIDR, comma-separated), e.g. one internal CalDAV server.
CALDAV_PRIVATE_NETWORKS = env_list("CALDAV_PRIVATE_NETWORKS")
for _network in CALDAV_PRIVATE_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"CALDAV_PRIVATE_NETWORKS: {_network!r} is not a network like 10.1.2.0/24."
        ) from None

# --- Internationalisation and static files --------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT") or BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
