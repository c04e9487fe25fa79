"""`make soak`: signed-in people browse calsync under gunicorn while workers sync against the fakes.

For a bounded time, on loopback only: virtual users sign in through the real form and read the week view
and the connections page, a mutator changes their calendars at the Google fake, and Celery workers keep
syncing. Afterwards every calendar in the database must equal the provider's. See soak.runner.
"""
