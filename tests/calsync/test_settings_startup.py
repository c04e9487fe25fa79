"""Start-up configuration: settings come from the environment and missing production secrets stop it."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from calsync.lib.crypto import generate_key
from fakes.processes import ROOT

PRINT_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({'broker': settings.CELERY_BROKER_URL, 'engine': settings.DATABASES['default']['ENGINE'], "
    "'debug': settings.DEBUG, 'cache': settings.CACHES['default']['BACKEND']}))"
)


def start(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
    clean.update({"DJANGO_SETTINGS_MODULE": "calsync.settings", "CALSYNC_VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )


CONFIG_VARIABLES = {
    "DEBUG",
    "SECRET_KEY",
    "ENCRYPTION_KEYS",
    "DATABASE_URL",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "SYNC_LEASE_SECONDS",
    "PROVIDER_TIMEOUT_SECONDS",
}
SECRETS = {"SECRET_KEY": "s" * 50, "ENCRYPTION_KEYS": f"k1:{generate_key()}"}


def test_it_refuses_to_start_without_secret_key(tmp_path):
    result = start({"ENCRYPTION_KEYS": SECRETS["ENCRYPTION_KEYS"]}, tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_it_refuses_to_start_without_encryption_keys(tmp_path):
    result = start({"SECRET_KEY": SECRETS["SECRET_KEY"]}, tmp_path)
    assert result.returncode != 0
    assert "ENCRYPTION_KEYS is not set" in result.stderr


def test_it_refuses_malformed_encryption_keys(tmp_path):
    result = start({**SECRETS, "ENCRYPTION_KEYS": "k1:tooshort"}, tmp_path)
    assert result.returncode != 0
    assert "ENCRYPTION_KEYS is malformed" in result.stderr


def test_it_refuses_the_public_development_keys_in_production(tmp_path):
    from calsync.lib.crypto import DEV_ENCRYPTION_KEYS

    result = start({**SECRETS, "ENCRYPTION_KEYS": f"{SECRETS['ENCRYPTION_KEYS']},{DEV_ENCRYPTION_KEYS}"}, tmp_path)
    assert result.returncode != 0
    assert "public development value" in result.stderr


def test_it_refuses_a_malformed_private_caldav_network(tmp_path):
    result = start({**SECRETS, "CALDAV_PRIVATE_NETWORKS": "10.1.2.0/24,intranet"}, tmp_path)
    assert result.returncode != 0
    assert "CALDAV_PRIVATE_NETWORKS: 'intranet' is not a network" in result.stderr


def test_it_refuses_a_sync_lease_shorter_than_a_request_and_a_retry_pause(tmp_path):
    # Two requests' worth of the timeout plus the 30 s retry pause: 2 * (20 + 30) = 100 s.
    result = start({**SECRETS, "PROVIDER_TIMEOUT_SECONDS": "20", "SYNC_LEASE_SECONDS": "99"}, tmp_path)
    assert result.returncode != 0
    assert "SYNC_LEASE_SECONDS (99) must be at least" in result.stderr and "100 or more" in result.stderr
    assert start({**SECRETS, "PROVIDER_TIMEOUT_SECONDS": "20", "SYNC_LEASE_SECONDS": "100"}, tmp_path).returncode == 0


def test_check_deploy_asks_for_site_url(settings):
    from calsync.checks import check_production_configuration

    settings.SITE_URL = ""
    assert "calsync.W005" in {warning.id for warning in check_production_configuration()}
    settings.SITE_URL = "https://calsync.example.com"
    assert "calsync.W005" not in {warning.id for warning in check_production_configuration()}


def test_it_refuses_a_misspelt_boolean(tmp_path):
    result = start({**SECRETS, "DEBUG": "maybe"}, tmp_path)
    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_it_starts_with_zero_setup_defaults_in_debug(tmp_path):
    result = start({"DEBUG": "1"}, tmp_path)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config == {
        "broker": "filesystem://",
        "engine": "django.db.backends.sqlite3",
        "debug": True,
        "cache": "django.core.cache.backends.locmem.LocMemCache",
    }


def test_it_uses_redis_and_postgres_when_configured(tmp_path):
    env = {**SECRETS, "DATABASE_URL": "postgres://u@127.0.0.1:5432/d", "REDIS_URL": "redis://127.0.0.1:6379/3"}
    result = start(env, tmp_path)
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["broker"] == "redis://127.0.0.1:6379/3"
    assert config["engine"] == "django.db.backends.postgresql"
    assert config["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert config["debug"] is False


def test_it_prefers_an_explicit_broker_url(tmp_path):
    env = {**SECRETS, "REDIS_URL": "redis://127.0.0.1:6379/3", "CELERY_BROKER_URL": "amqp://guest@127.0.0.1//"}
    result = start(env, tmp_path)
    assert json.loads(result.stdout)["broker"] == "amqp://guest@127.0.0.1//"


@pytest.fixture
def app_database_url() -> Iterator[str]:
    """A login role that is no superuser, as production runs the app (check --deploy warns of a superuser)."""
    role = sql.Identifier(name := f"calsync_app_{secrets.token_hex(6)}")
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER").format(role))
        try:
            yield f"postgres://{name}@127.0.0.1:5432/postgres"
        finally:
            admin.execute(sql.SQL("DROP ROLE {}").format(role))


def test_check_deploy_reports_nothing_for_the_documented_production_environment(tmp_path, app_database_url):
    # The production example in docs/operations.md (Deploying), with real secrets in place of the dots.
    production = {
        **SECRETS,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "0",
        "DATABASE_URL": app_database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/14",
        "ALLOWED_HOSTS": "calsync.example.com",
        "SITE_URL": "https://calsync.example.com",
        "SECURE_PROXY_SSL_HEADER": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_HSTS_PRELOAD": "1",
    }
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert all(f"{name}=" in operations for name in production), "the documented example and this test differ"
    # Only what a deployment has: not this test process's settings, nor the DJANGO_ALLOW_ASYNC_UNSAFE that the
    # browser tests' live server sets in it (check --deploy rightly reports that).
    clean = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    clean.update({"DJANGO_SETTINGS_MODULE": "calsync.settings", "CALSYNC_VAR_DIR": str(tmp_path), **production})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
