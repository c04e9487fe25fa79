"""Withdrawing grants at the provider when a person leaves: the Google adapter against a loopback fake."""

from __future__ import annotations

import pytest
from django.test import Client

from calsync.lib.crypto import current_keyring
from connections.models import ProviderAccount
from connections.providers.base import Credentials, ProviderError, RateLimited
from connections.providers.google import GoogleAdapter
from connections.services import REVOKE_TASK_CONTEXT, grant_revoke
from tests.factories import make_account


def test_google_revoke_withdraws_a_valid_grant(fake_google):
    fake_google.valid_tokens.add("1//refresh-a")
    GoogleAdapter().revoke(Credentials(refresh_token="1//refresh-a", access_token="ya29.a"))
    assert fake_google.revoked == ["1//refresh-a"]  # the refresh token, which withdraws the whole grant


def test_google_revoke_of_an_already_invalid_token_is_not_an_error(fake_google):
    GoogleAdapter().revoke(Credentials(refresh_token="1//long-gone"))
    assert fake_google.revoked == []


def test_google_rate_limits_and_outages_are_retryable_with_retry_after(fake_google):
    fake_google.valid_tokens.add("1//refresh-b")
    fake_google.faults.extend([(429, "7"), (503, None)])
    with pytest.raises(RateLimited) as limited:
        GoogleAdapter().revoke(Credentials(refresh_token="1//refresh-b"))
    assert (limited.value.permanent, limited.value.retry_after) == (False, 7.0)
    with pytest.raises(ProviderError) as outage:
        GoogleAdapter().revoke(Credentials(refresh_token="1//refresh-b"))
    assert not outage.value.permanent
    GoogleAdapter().revoke(Credentials(refresh_token="1//refresh-b"))
    assert fake_google.revoked == ["1//refresh-b"]


def test_an_unreachable_google_is_a_retryable_error(settings):
    settings.GOOGLE_REVOKE_URI = "http://127.0.0.1:9/revoke"  # the discard port: nothing listens
    with pytest.raises(ProviderError) as caught:
        GoogleAdapter().revoke(Credentials(refresh_token="1//x"))
    assert not caught.value.permanent


def test_the_task_takes_only_a_sealed_token(fake_google):
    fake_google.valid_tokens.add("1//refresh-c")
    grant_revoke(provider="google", sealed_token=current_keyring().encrypt("1//refresh-c", REVOKE_TASK_CONTEXT))
    assert fake_google.revoked == ["1//refresh-c"]


def test_deleting_an_account_revokes_google_grants_after_commit(
    owner, stranger, fake_google, eager_celery, django_capture_on_commit_callbacks
):
    from allauth.account.models import EmailAddress

    EmailAddress.objects.create(user=owner, email=owner.email, verified=True, primary=True)
    fake_google.valid_tokens.update({"1//owners", "1//strangers"})
    make_account(owner, provider="google", access_token="ya29.o", refresh_token="1//owners")
    make_account(owner, provider="caldav", password="app-specific-pw", external_id="https://dav.example/p/")
    make_account(stranger, provider="google", refresh_token="1//strangers")

    client = Client()
    client.post("/accounts/login/", {"login": owner.email, "password": "correct horse battery staple"})
    client.post("/accounts/reauthenticate/", {"password": "correct horse battery staple"})
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/accounts/delete/", {"confirm": "on"}).status_code == 302

    assert fake_google.revoked == ["1//owners"]
    assert not ProviderAccount.objects.filter(user=owner, refresh_token__isnull=False).exists()
    assert not ProviderAccount.objects.filter(user=owner, password__isnull=False).exists()
    assert ProviderAccount.objects.get(user=stranger).refresh_token == "1//strangers"
