"""CalDAV servers and Apple iCloud."""

from connections.providers.caldav.adapter import CalDAVAdapter, ICloudAdapter, is_icloud

__all__ = ["CalDAVAdapter", "ICloudAdapter", "is_icloud"]
