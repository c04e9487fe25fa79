"""Google Calendar: OAuth 2.0 grants and the Calendar API. Endpoints come from settings (GOOGLE_*)."""

from __future__ import annotations

from typing import ClassVar

import requests
from django.conf import settings

from connections.providers.base import Credentials, ProviderAdapter, ProviderError
from connections.providers.http import TIMEOUT_SECONDS, raise_for_transient


class GoogleAdapter(ProviderAdapter):
    provider: ClassVar[str] = "google"
    can_revoke: ClassVar[bool] = True

    def revoke(self, credentials: Credentials) -> None:
        # Revoking the refresh token withdraws the whole grant (and its access tokens).
        token = credentials.refresh_token or credentials.access_token
        if not token:
            return
        try:
            response = requests.post(
                settings.GOOGLE_REVOKE_URI,
                data={"token": token},
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise ProviderError(f"Google revoke: {type(exc).__name__}") from None
        raise_for_transient(response, "Google revoke")
        if response.status_code == 200:
            return
        # 400 invalid_token: already revoked or expired, which is what we wanted.
        if response.status_code == 400 and _error_code(response) == "invalid_token":
            return
        raise ProviderError(f"Google revoke: unexpected {response.status_code}", permanent=True)


def _error_code(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""
