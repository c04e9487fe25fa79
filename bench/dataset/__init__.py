"""A realistic, repeatable data set for performance work (`python -m bench.dataset`).

How it is built, and why it is fast:
- `specs` draws provider-neutral event descriptions (titles, people, times, recurrence, exceptions) from a
  seeded `random.Random`; nothing here reads the global random state or the clock.
- `google_payloads`, `graph_payloads` and `ical_payloads` render them as the providers send them (Calendar API
  event resources, Graph events, iCalendar resources), and `templates` maps each payload through the real
  adapters (connections.providers.*) and `events.mapping.event_row`, once per distinct payload: a pool of a
  few thousand templates.
- `events_loader` derives every stored event from a template by giving it new provider ids and moving it by
  whole days on its own wall clock (a 09:00 Berlin meeting stays at 09:00 Berlin; weekly series move by
  whole weeks, monthly and yearly ones not at all, so their rules still match their starts), then streams
  the rows into PostgreSQL with COPY.
- Generated people have addresses in DATASET_DOMAIN (`@dataset.invalid`, a domain that cannot receive
  mail); `reset` deletes only them.
"""
