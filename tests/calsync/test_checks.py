"""`check --deploy` refuses rate limits kept per process once DEBUG is off."""

from __future__ import annotations

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError

PER_PROCESS = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Other deploy checks read the database (audit.checks: the application role's rights on the audit log).
pytestmark = pytest.mark.django_db

SHARED = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:6379/1"}}


def deploy_check_ids() -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=True) if message.id}


def test_check_deploy_fails_when_rate_limits_would_be_counted_per_process(settings):
    settings.DEBUG = False
    settings.CACHES = PER_PROCESS
    with pytest.raises(SystemCheckError, match=r"calsync\.E004"):
        call_command("check", "--deploy")


@pytest.mark.parametrize("backend", ["locmem.LocMemCache", "dummy.DummyCache"])
def test_every_cache_that_is_not_shared_is_refused(settings, backend):
    settings.DEBUG = False
    settings.CACHES = {"default": {"BACKEND": f"django.core.cache.backends.{backend}"}}
    assert "calsync.E004" in deploy_check_ids()


def test_a_shared_cache_passes(settings):
    settings.DEBUG = False
    settings.CACHES = SHARED
    assert not {"calsync.E004", "calsync.W004"} & deploy_check_ids()


def test_a_development_server_is_only_warned(settings):
    settings.DEBUG = True
    settings.CACHES = PER_PROCESS
    ids = deploy_check_ids()
    assert "calsync.W004" in ids
    assert "calsync.E004" not in ids
