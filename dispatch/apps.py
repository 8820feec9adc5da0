from django.apps import AppConfig


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Penugasan"

    def ready(self) -> None:
        from dispatch import checks  # noqa: F401 (registers the system checks)
