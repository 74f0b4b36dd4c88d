from django.apps import AppConfig


class TracesConfig(AppConfig):
    name = "apps.traces"
    label = "traces"
    verbose_name = "Traces"

    def ready(self):
        from apps.core.registry import register_demo_loader

        from .demo import load_demo_traces

        register_demo_loader(load_demo_traces, order=10)
