from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "apps.experiments"
    label = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        from apps.core.registry import register_ingest_hook

        from .online import online_rules_on_ingest

        register_ingest_hook(online_rules_on_ingest)
        # The scorers' admin lives beside the app's admin.py until the lead merges the registrations.
        from . import admin_scorers  # noqa: F401
