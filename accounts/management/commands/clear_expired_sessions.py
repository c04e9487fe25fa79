from typing import Any

from django.core.management.base import BaseCommand

from accounts.sessions import sessions_clear_expired


class Command(BaseCommand):
    help = "Delete sessions past their expiry (the same job Celery Beat runs hourly)."

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = sessions_clear_expired()
        self.stdout.write(self.style.SUCCESS(f"{deleted} expired sessions deleted."))
