from django.apps import AppConfig


class CalsyncConfig(AppConfig):
    name = "calsync"
    verbose_name = "calsync"

    def ready(self) -> None:
        from calsync import checks  # noqa: F401  (registers the deployment checks)
