from django.apps import AppConfig


class QueuesConfig(AppConfig):
    name = "apps.queues"
    label = "queues"
    verbose_name = "Review queues"

    def ready(self) -> None:
        from apps.core import registry
        from apps.traces.api import register_span_extension

        from . import admin_actions, dashboard, demo, gold
        from .services.filling import queues_on_ingest

        registry.register_ingest_hook(queues_on_ingest)
        registry.register_trace_action(admin_actions.add_traces_to_review_queue)
        registry.register_span_action(admin_actions.add_spans_to_review_queue)
        registry.register_dashboard_panel(dashboard.review_dashboard_panel)
        registry.register_demo_loader(demo.demo_load, order=30)
        registry.register_trace_page_panel(gold.trace_page_gold_panel)
        register_span_extension(gold.span_gold_api_extension)
