"""The calsync project package: settings, URLs, the Celery app, and shared helpers in calsync.lib."""

from calsync.celery import app as celery_app

__all__ = ["celery_app"]
