"""Which adapter speaks for which provider."""

from __future__ import annotations

from connections.models import Provider
from connections.providers.base import ProviderAdapter
from connections.providers.caldav import CalDAVAdapter, ICloudAdapter
from connections.providers.google import GoogleAdapter
from connections.providers.microsoft import MicrosoftAdapter

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    Provider.GOOGLE: GoogleAdapter,
    Provider.MICROSOFT: MicrosoftAdapter,
    Provider.ICLOUD: ICloudAdapter,
    Provider.CALDAV: CalDAVAdapter,
}


def adapter_for(provider: str) -> ProviderAdapter | None:
    adapter = ADAPTERS.get(provider)
    return adapter() if adapter is not None else None
