"""CalDAV servers and Apple iCloud.

- `client`: the caldav library on the guarded session; the only place its failures become ProviderErrors.
- `reading`: the calendar listing and the inbound changes (sync-collection or ctag, calendar-multiget).
- `writing`: PUT and DELETE of whole resources (the iCalendar editing is `ical.editing`).
- `adapter`: `CalDAVAdapter` and `ICloudAdapter`, the provider contract on top.
"""

from connections.providers.caldav.adapter import CalDAVAdapter, ICloudAdapter
from connections.providers.caldav.client import is_icloud

__all__ = ["CalDAVAdapter", "ICloudAdapter", "is_icloud"]
