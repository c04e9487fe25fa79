"""Connections: provider accounts (credentials), the calendars chosen from them, and OAuth states.

Provider-specific code lives only under connections/providers/, one package per provider.
"""
