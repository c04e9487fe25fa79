"""All-day events hold whole calendar days (PostgreSQL; SQLite, the demo default, skips it).

An all-day row stores its dates as midnight UTC (see CalendarEvent). A writer that stored a local
midnight instead (00:00 in Berlin is 22:00 UTC the day before) would move the event to another day for
everyone; the database refuses such rows, and an all-day event lasts at least one day.
"""

from django.db import migrations

from calsync.lib.migrations import PostgresOnlySQL

CREATE = """
ALTER TABLE calendar_events ADD CONSTRAINT calendar_events_all_day_whole_days CHECK (
    NOT all_day OR (
        start = date_trunc('day', start, 'UTC')
        AND "end" = date_trunc('day', "end", 'UTC')
        AND "end" > start
    )
);
"""

DROP = "ALTER TABLE calendar_events DROP CONSTRAINT IF EXISTS calendar_events_all_day_whole_days;"


class Migration(migrations.Migration):
    dependencies = [("events", "0001_initial")]

    operations = [PostgresOnlySQL(CREATE, reverse_sql=DROP)]
