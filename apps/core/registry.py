"""Extension points other apps register into from AppConfig.ready().

- `trace_admin_actions` / `span_admin_actions`: admin actions added to the trace and span changelists
  ("Add to review queue…", "Add to dataset…", "Export…").
- `dashboard_panels`: callables (request) -> dict(title=..., template=..., context=...) | None
  rendered on the admin index.
- `trace_page_panels`: callables (request, trace, span) -> dict(template=..., context=...) | None
  rendered on the admin trace page under each span (annotation panel, trace views).
- `demo_loaders`: callables (project) -> None, run in order by `manage.py load_demo`.
- `ingest_hooks`: callables (project, trace_pks) -> None, run after each committed ingest batch.
- `review_body_renderers`: callables (request, queue, trace, span) -> dict(template=..., context=...) | None;
  the review page renders the trace through the first that answers (custom trace views), else its default.
"""

from __future__ import annotations

from collections.abc import Callable

trace_admin_actions: list[Callable] = []
span_admin_actions: list[Callable] = []
dashboard_panels: list[Callable] = []
trace_page_panels: list[Callable] = []
demo_loaders: list[tuple[int, Callable]] = []
ingest_hooks: list[Callable] = []
review_body_renderers: list[Callable] = []


def register_demo_loader(loader: Callable, *, order: int) -> None:
    if all(existing is not loader for _, existing in demo_loaders):
        demo_loaders.append((order, loader))
        demo_loaders.sort(key=lambda pair: pair[0])


def _register(target: list, fn: Callable) -> Callable:
    if fn not in target:
        target.append(fn)
    return fn


def register_trace_action(fn: Callable) -> Callable:
    return _register(trace_admin_actions, fn)


def register_span_action(fn: Callable) -> Callable:
    return _register(span_admin_actions, fn)


def register_dashboard_panel(fn: Callable) -> Callable:
    return _register(dashboard_panels, fn)


def register_trace_page_panel(fn: Callable) -> Callable:
    return _register(trace_page_panels, fn)


def register_ingest_hook(fn: Callable) -> Callable:
    return _register(ingest_hooks, fn)


def register_review_body_renderer(fn: Callable) -> Callable:
    return _register(review_body_renderers, fn)
