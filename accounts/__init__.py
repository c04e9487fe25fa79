"""Accounts: the User (email login, soft delete, time zone, week start) and sessions with device context.

Session keys are stored only as SHA-256 hashes (accounts.sessions), so a database dump cannot be replayed
as a login.
"""
