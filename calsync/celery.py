"""The Celery app: configuration from Django settings (CELERY_*), tasks autodiscovered from the apps."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "calsync.settings")

app = Celery("calsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
