"""Request details that several apps record (the client's IP and user agent), and our own public URLs."""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

USER_AGENT_MAX_LENGTH = 512


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, trusting only as many X-Forwarded-For hops as TRUSTED_PROXY_COUNT says.

    Each trusted proxy appends the address it saw, so the client is the entry that many places from the
    right; anything further left was written by the client and may be forged.
    """
    candidate = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        if len(hops) >= proxies:
            candidate = hops[-proxies]
    try:
        return str(ip_address(candidate))
    except ValueError:
        return None


def client_info(request: HttpRequest) -> ClientInfo:
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:USER_AGENT_MAX_LENGTH]
    return ClientInfo(ip=client_ip(request), user_agent=user_agent)


def absolute_url(path: str, request: HttpRequest | None = None) -> str:
    """`path` on our public address: SITE_URL when set (it must match what providers have registered),
    else the request's host, else localhost (a worker with no SITE_URL)."""
    if settings.SITE_URL:
        return f"{settings.SITE_URL}{path}"
    if request is not None:
        return request.build_absolute_uri(path)
    return f"http://localhost:8000{path}"


def posted_next(request: HttpRequest, *, default: str) -> str:
    """The page a form came from (its `next` field) when it is a path on this site; else `default`."""
    back = request.POST.get("next", "")
    if back.startswith("/") and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return back
    return default
