"""Spec + trace → a render tree of plain data (JSON-serialisable), then HTML through escaped templates.

Nothing from the spec is evaluated as code or as a template: component types pick one of our own
templates, paths are JSONPath read by jsonpath-ng, and every value reaches HTML through Django's
auto-escaping (Markdown through nh3). The tree is returned by the API as is.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from apps.traces.models import Span, Trace

from .components import aggregate, conversation, diff, fields, image, json_tree, markdown
from .documents import MAX_ITEMS, TraceContext, find_all, find_one, value_text
from .schema import COMPONENT_TYPES

TEMPLATES = {name: f"views/components/{name}.html" for name in COMPONENT_TYPES}


def render_components(
    components: list[dict], ctx: TraceContext, *, document: dict | None = None, depth: int = 0
) -> list[dict[str, Any]]:
    """The render tree. Top-level components read a span's document; nested ones read their item."""
    nodes = []
    for index, component in enumerate(components):
        kind = component.get("type") if isinstance(component, dict) else None
        if kind not in TEMPLATES:  # a spec stored before a schema change: say so, never fail the page
            nodes.append(
                {
                    "type": "unknown",
                    "title": "",
                    "template": TEMPLATES["json"],
                    "key": f"c{depth}-{index}",
                    "error": f"Unknown component type {kind!r}.",
                }
            )
            continue
        node: dict[str, Any] = {
            "type": kind,
            "title": component.get("title", ""),
            "template": TEMPLATES[kind],
            "key": f"c{depth}-{index}",
        }
        span = None
        doc = document
        if kind != "aggregate" and document is None:
            span = ctx.select(component.get("span"))
            if span is None:
                selector = component.get("span") or {}
                what = " ".join(f"{k} {v!r}" for k, v in selector.items() if k != "index") or "root"
                node["error"] = f"No span with {what} in this trace." if selector else "This trace has no spans."
                nodes.append(node)
                continue
            doc = ctx.docs[span.pk]
            node["span_id"] = span.span_id
        try:
            node.update(_render_one(component, ctx, doc, span, depth))
        except ValueError as exc:  # a path that no longer parses (spec saved by an older schema)
            node["error"] = str(exc)
        except (KeyError, TypeError) as exc:  # a field missing from a spec saved by an older schema
            node["error"] = f"This component is incomplete ({exc}); fix the view in the editor."
        nodes.append(node)
    return nodes


def _render_one(component: dict, ctx: TraceContext, doc: dict | None, span: Span | None, depth: int) -> dict[str, Any]:
    kind = component["type"]
    if kind == "conversation":
        return conversation(component, doc)
    if kind == "fields":
        return fields(component, doc)
    if kind == "markdown":
        return markdown(component, doc)
    if kind == "json":
        return json_tree(component, doc)
    if kind == "diff":
        return diff(component, doc)
    if kind == "image":
        return image(component, doc)
    if kind == "aggregate":
        return aggregate(component, ctx)
    if kind == "carousel":
        found = find_all(component["path"], doc)
        items = [v for item in found for v in (item if isinstance(item, list) else [item])]
        if not items:
            return {"error": f"No items at {component['path']}."}
        rendered = []
        for position, item in enumerate(items[:MAX_ITEMS], start=1):
            title = (
                value_text(find_one(component["item_title"], item), pretty=False) if component.get("item_title") else ""
            )
            rendered.append(
                {
                    "title": title or f"Item {position}",
                    "components": render_components(component["components"], ctx, document=item, depth=depth + 1),
                }
            )
        return {"items": rendered, "count": len(items), "hidden": max(0, len(items) - MAX_ITEMS)}
    if kind == "score_controls":
        target = span if span is not None else ctx.default_span
        if target is None:
            return {"error": "This trace has no spans."}
        return {"span_pk": target.pk, "span_id": target.span_id, "configs": list(component["configs"])}
    raise ValueError(f"Unknown component type {kind!r}.")


def render_tree(
    spec: dict, trace: Trace, *, spans: list[Span] | None = None, focus: Span | None = None, viewer=None
) -> list[dict[str, Any]]:
    """`focus`: the span under review, read by components without a `span` selector (else the root).
    `viewer`: the user the trace is shown to (or, on a share page, who made the link): annotations they
    may not see yet (blind review) are left out."""
    return render_components(spec.get("components") or [], TraceContext.load(trace, spans, focus, viewer))


def _walk(nodes: list[dict]):
    for node in nodes:
        yield node
        for item in node.get("items") or []:
            if isinstance(item, dict) and "components" in item:
                yield from _walk(item["components"])


def render_html(nodes: list[dict], *, request=None, interactive: bool = False, review: dict | None = None) -> str:
    """HTML of a render tree. Score controls are live only when `interactive` (a signed-in member);
    `review` carries the review page's rules for its item (see apps.views.review_body.review_state)."""
    from .services import score_controls_context

    for node in _walk(nodes):
        if node["type"] == "score_controls" and "span_pk" in node and review is not None:
            # On the review page the one panel scores the item: point at the queue's configs there, never
            # a second panel with its own Save (configs the queue does not use are left out).
            node["review_configs"] = [n for n in node["configs"] if n in review.get("queue_configs", ())]
            node["panel"] = None
        elif node["type"] == "score_controls" and "span_pk" in node:
            node["panel"] = (
                score_controls_context(
                    request=request,
                    span_pk=node["span_pk"],
                    config_names=node["configs"],
                )
                if interactive and request is not None
                else None
            )
    html = render_to_string("views/_tree.html", {"nodes": nodes, "interactive": interactive}, request=request)
    for node in _walk(nodes):
        node.pop("panel", None)
        node.pop("review_configs", None)
    return html
