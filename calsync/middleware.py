from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from calsync.views import healthz

HEALTH_CHECK_PATH = "/healthz"


class HealthCheckMiddleware:
    """Answer the health probe before host validation and the HTTPS redirect.

    Probes (docker-compose, load balancers) call over plain HTTP with an internal address as the Host,
    which ALLOWED_HOSTS and SECURE_SSL_REDIRECT would otherwise turn into a 400 or a 301.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == HEALTH_CHECK_PATH:
            return healthz(request)
        return self.get_response(request)
