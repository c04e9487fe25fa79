"""Google Calendar: the client at the bottom, reading and writing above it, the adapter on top."""

from connections.providers.google.adapter import GoogleAdapter

__all__ = ["GoogleAdapter"]
