from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "apps.exports"
    label = "exports"
    verbose_name = "Exports"

    def ready(self):
        from apps.core import registry

        from . import admin_actions, demo

        registry.register_trace_action(admin_actions.export_traces)
        registry.register_span_action(admin_actions.export_spans)
        registry.register_demo_loader(demo.load_demo_exports, order=50)
