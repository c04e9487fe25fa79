"""Project-wide bookkeeping that belongs to no single app."""

from __future__ import annotations

from django.db import models


class JobLease(models.Model):
    """Which periodic job is running: a job claims its row before it starts (see calsync.jobs)."""

    name = models.CharField(max_length=100, primary_key=True, help_text="The Celery task's name.")
    held_until = models.DateTimeField(null=True, blank=True, help_text="Running until at most then.")
    holder = models.CharField(max_length=64, blank=True, help_text="The run holding it (a random token).")
    last_started_at = models.DateTimeField(null=True, blank=True)
    last_finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "periodic_job_leases"

    def __str__(self) -> str:
        return self.name
