"""Events: calendar events synced from providers, sync runs, and (later issues) the sync and week view."""
