from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "apps.queues"
    label = "queues"

    def ready(self) -> None:
        from apps.core import registry

        from . import services

        registry.register_ingest_hook(services.queues_on_ingest)
