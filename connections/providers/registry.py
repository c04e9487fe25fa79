"""Which adapter speaks for which provider."""

from __future__ import annotations

from connections.models import Provider
from connections.providers.base import ProviderAdapter
from connections.providers.google import GoogleAdapter

# Microsoft: Graph offers no call that withdraws one app's delegated grant for a person (only an admin
# can delete the consent; revokeSignInSessions would sign them out of everything), so deleting our copy
# of the tokens is all we can do. CalDAV / iCloud: the app-specific password is revoked by the person at
# Apple; we delete our copy. Their adapters arrive with the connect flows.
ADAPTERS: dict[str, type[ProviderAdapter]] = {Provider.GOOGLE: GoogleAdapter}


def adapter_for(provider: str) -> ProviderAdapter | None:
    adapter = ADAPTERS.get(provider)
    return adapter() if adapter is not None else None
