from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        # The deployment check of the database role, and the receivers that audit the ground floor's work.
        from audit import checks, signals  # noqa: F401
