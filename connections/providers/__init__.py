"""Provider adapters: the only code that speaks to Google, Microsoft and CalDAV servers.

Adapters return plain dataclasses and raise only the ProviderError hierarchy (base.py); they never touch
the database. Nothing outside this package branches on the provider.
"""
