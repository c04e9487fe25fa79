"""Which adapter speaks for which provider, by the provider's value ("google", ...). Keyed by plain strings,
so the providers need no model: connections.models.Provider members are those strings."""

from __future__ import annotations

from connections.providers.base import ProviderAdapter
from connections.providers.caldav import CalDAVAdapter, ICloudAdapter
from connections.providers.google import GoogleAdapter
from connections.providers.microsoft import MicrosoftAdapter

ADAPTERS: dict[str, type[ProviderAdapter]] = {
    adapter.provider: adapter for adapter in (GoogleAdapter, MicrosoftAdapter, ICloudAdapter, CalDAVAdapter)
}


def adapter_for(provider: str) -> ProviderAdapter | None:
    adapter = ADAPTERS.get(provider)
    return adapter() if adapter is not None else None
