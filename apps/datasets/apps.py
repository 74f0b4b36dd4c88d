from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "apps.datasets"
    label = "datasets"
    verbose_name = "Datasets"

    def ready(self) -> None:
        from apps.core import registry

        from .admin_actions import add_to_dataset
        from .demo import load_demo_datasets

        registry.register_trace_action(add_to_dataset)
        registry.register_span_action(add_to_dataset)
        registry.register_demo_loader(load_demo_datasets, order=40)
