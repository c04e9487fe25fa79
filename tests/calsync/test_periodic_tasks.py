from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import PeriodicTask

from calsync.schedule import PERIODIC_JOBS


def run(*args: str) -> str:
    out = StringIO()
    call_command("setup_periodic_tasks", *args, stdout=out)
    return out.getvalue()


def test_it_installs_every_job_once(db):
    assert f"{len(PERIODIC_JOBS)} installed" in run()
    assert "0 installed" in run()
    assert set(PeriodicTask.objects.values_list("task", flat=True)) >= {job.task for job in PERIODIC_JOBS}
    assert PeriodicTask.objects.filter(name__in=[job.name for job in PERIODIC_JOBS]).count() == len(PERIODIC_JOBS)


def test_it_keeps_what_staff_changed_unless_reset(db):
    run()
    job = PERIODIC_JOBS[0]
    PeriodicTask.objects.filter(name=job.name).update(enabled=False)
    run()
    assert not PeriodicTask.objects.get(name=job.name).enabled
    run("--reset")
    assert PeriodicTask.objects.get(name=job.name).enabled


def test_every_scheduled_task_is_registered_with_celery(db):
    from calsync.celery import app

    app.loader.import_default_modules()
    for job in PERIODIC_JOBS:
        assert job.task in app.tasks, job.task


def test_staff_see_and_change_the_schedules_in_the_admin(client, staff):
    run()
    client.force_login(staff)
    listing = client.get(reverse("admin:django_celery_beat_periodictask_changelist"))
    assert listing.status_code == 200
    for job in PERIODIC_JOBS:
        assert job.name in listing.content.decode()
    task = PeriodicTask.objects.get(name="Sync due calendars")
    page = client.get(reverse("admin:django_celery_beat_periodictask_change", args=[task.pk]))
    assert page.status_code == 200 and "events.sync_due" in page.content.decode()
