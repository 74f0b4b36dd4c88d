from django.apps import AppConfig


class ViewsConfig(AppConfig):
    name = "apps.views"
    label = "views"
    verbose_name = "Trace views"

    def ready(self) -> None:
        from apps.core import registry

        from . import demo, panels, review_body

        registry.register_review_body_renderer(review_body.review_body)
        registry.register_trace_page_panel(panels.trace_views_panel)
        registry.register_demo_loader(demo.load_demo_views, order=60)
