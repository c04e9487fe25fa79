import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from demo.caldav_server import DEFAULT_PORT, DEMO_PASSWORD, DEMO_USERNAME
from demo.seed import DEMO_EMAIL, DEMO_USER_PASSWORD, DemoUnavailable, demo_seed


class Command(BaseCommand):
    help = (
        "Create the demo account and connect it to a CalDAV server holding a demo calendar (written there "
        "if missing), then sync it. `make run` calls this against the local Radicale it starts. "
        "Development only: it refuses to run unless DEBUG is on, since the demo password is public."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        port = os.environ.get("DEMO_CALDAV_PORT", DEFAULT_PORT)
        parser.add_argument("--caldav-url", default=f"https://127.0.0.1:{port}/", help="Default: %(default)s.")
        parser.add_argument("--username", default=DEMO_USERNAME, help="CalDAV user name (default %(default)s).")
        parser.add_argument("--password", default=DEMO_PASSWORD, help="CalDAV password (default %(default)s).")
        parser.add_argument("--reset", action="store_true", help="Write the demo calendar afresh.")
        parser.add_argument("--wait", type=float, default=0, help="Seconds to wait for the server to answer.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("seed_demo makes an account with a public password: it runs only with DEBUG=1.")
        try:
            report = demo_seed(
                caldav_url=options["caldav_url"],
                username=options["username"],
                password=options["password"],
                reset=options["reset"],
                wait_seconds=options["wait"],
                progress=self.stdout.write,
            )
        except DemoUnavailable as exc:
            raise CommandError(f"demo not set up: {exc}") from exc
        account = "created" if report.user_created else "kept"
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready ({account} account, {report.events_written} events written, "
                f"{len(report.synced)} calendars synced): sign in as {DEMO_EMAIL} / {DEMO_USER_PASSWORD}"
            )
        )
