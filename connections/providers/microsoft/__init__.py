"""Microsoft Outlook / 365 through Microsoft Graph: the client at the bottom, reading, writing and the
recurrence mapping above it, the adapter on top."""

from connections.providers.microsoft.adapter import MicrosoftAdapter

__all__ = ["MicrosoftAdapter"]
