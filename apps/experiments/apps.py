from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "apps.experiments"
    label = "experiments"
    verbose_name = "Experiments"

    def ready(self) -> None:
        from apps.core import registry

        from .demo import load_demo_experiments
        from .online import online_rules_on_ingest
        from .otlp import experiment_results_from_traces

        registry.register_ingest_hook(experiment_results_from_traces)
        registry.register_ingest_hook(online_rules_on_ingest)
        registry.register_demo_loader(load_demo_experiments, order=45)
