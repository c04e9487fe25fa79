"""Client IP and user agent as recorded in sessions and audit rows: forged headers are not trusted."""

from __future__ import annotations

from django.test import RequestFactory

from calsync.lib.http import USER_AGENT_MAX_LENGTH, client_info, client_ip

factory = RequestFactory()


def test_it_ignores_forwarded_for_when_no_proxy_is_trusted(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    request = factory.get("/", REMOTE_ADDR="203.0.113.5", HTTP_X_FORWARDED_FOR="10.0.0.1")
    assert client_ip(request) == "203.0.113.5"


def test_it_takes_the_address_the_trusted_proxy_saw_not_what_the_client_wrote(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.20")
    assert client_ip(request) == "198.51.100.20"


def test_it_counts_hops_from_the_right_for_several_proxies(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = factory.get("/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="forged, 198.51.100.21, 10.0.0.2")
    assert client_ip(request) == "198.51.100.21"


def test_it_falls_back_to_the_peer_when_the_header_is_short(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = factory.get("/", REMOTE_ADDR="10.0.0.3", HTTP_X_FORWARDED_FOR="198.51.100.21")
    assert client_ip(request) == "10.0.0.3"


def test_it_records_nothing_for_an_address_that_is_not_one(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    request = factory.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="<script>alert(1)</script>")
    assert client_ip(request) is None


def test_it_truncates_a_huge_user_agent():
    request = factory.get("/", HTTP_USER_AGENT="A" * 10_000)
    assert len(client_info(request).user_agent) == USER_AGENT_MAX_LENGTH
