"""The only door to the broker: every task the application queues goes through here (Zulip's
`zerver/lib/queue.py` is the model). Callers name the task and its arguments; this module does the Celery
part, so no service imports a tasks module (which imports the services back) to reach one.

Tasks are looked up by the name they are registered under, when they are queued: this module imports no
app, and the app's current configuration (eager in tests) applies. The names are the ones queued messages
and the beat schedule carry, so they never change.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import current_app
from django.db import transaction

# The tasks queued from application code, by their registered names.
SYNC_CONNECTION = "events.sync_connection"
PUSH_CONNECTION = "events.push_connection"
REVOKE_GRANT = "connections.revoke_grant"


def enqueue(task_name: str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Queue the task now (raises if the broker cannot take it); `countdown` delays its start, in seconds."""
    task = _registered(task_name)
    if countdown is None:
        task.delay(*args, **kwargs)
    else:
        task.apply_async(args, kwargs, countdown=countdown)


def enqueue_on_commit(task_name: str, *args: Any, **kwargs: Any) -> None:
    """Queue the task once the current transaction commits (at once outside one); nothing if it rolls back."""
    transaction.on_commit(partial(enqueue, task_name, *args, **kwargs))


def _registered(task_name: str) -> Any:
    if task_name not in current_app.tasks:
        # A web process has not imported the apps' tasks modules (a worker does as it starts): import them.
        current_app.loader.import_default_modules()
    return current_app.tasks[task_name]
