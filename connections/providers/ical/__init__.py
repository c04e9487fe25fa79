"""iCalendar, without any HTTP: reading resources into events, their time zones, and changing them in place.

- `properties`: reading property values as icalendar hands them over (lists, unreadable values).
- `tolerant`: icalendar's parser, keeping what it cannot read; `ICalendarError`; `read_calendar`.
- `zones`: the IANA zone each TZID stands for.
- `parsing`: one resource as provider-neutral `RemoteEvent`s (`parse_resource`).
- `editing`: the changes CalDAV writes make to a resource's VCALENDAR.
- `series_moves`: where a series' occurrence-naming values go when it moves (CalDAV, Google, edits).
"""
