"""Events: calendar events synced from providers, sync runs, the inbound sync, the outbound push and the week view."""
