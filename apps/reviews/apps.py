from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "apps.reviews"
    label = "reviews"
    verbose_name = "Reviews: scores and annotations"

    def ready(self) -> None:
        from apps.core.registry import (
            register_dashboard_panel,
            register_demo_loader,
            register_trace_page_panel,
        )
        from apps.traces.api import register_span_extension, register_trace_extension

        from .demo import demo_load
        from .panels import feedback_dashboard_panel, trace_page_panel
        from .selectors import span_annotations_api_extension, trace_tags_api_extension

        register_trace_page_panel(trace_page_panel)
        register_dashboard_panel(feedback_dashboard_panel)
        register_demo_loader(demo_load, order=20)
        register_span_extension(span_annotations_api_extension)
        register_trace_extension(trace_tags_api_extension)
