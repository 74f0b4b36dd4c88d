"""Spec + trace → a render tree of plain data (JSON-serialisable), then HTML through escaped templates.

Nothing from the spec is evaluated as code or as a template: component types pick one of our own
templates, paths are JSONPath read by jsonpath-ng, and every value reaches HTML through Django's
auto-escaping (Markdown through nh3). The tree is returned by the API as is.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.template.loader import render_to_string

from apps.core.chat import chat_items, has_tool_calls, is_message, message_normalise, tool_arguments
from apps.traces.models import Span, Trace
from apps.traces.selectors import trace_root_span

from .schema import parse_path

MAX_ITEMS = 100  # carousel items, aggregate rows, conversation messages shown per component
MAX_TRACE_SPANS = 5000
MAX_TEXT = 100_000  # characters of one value shown before truncating
DIFF_TOKEN_LIMIT = 20_000
DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")
TEMPLATES = {
    name: f"views/components/{name}.html"
    for name in (
        "conversation",
        "fields",
        "markdown",
        "json",
        "carousel",
        "diff",
        "image",
        "aggregate",
        "score_controls",
    )
}


def _metrics(span: Span) -> dict[str, Any]:
    columns = {
        "input_tokens": span.input_tokens,
        "output_tokens": span.output_tokens,
        "total_tokens": span.total_tokens,
        "cost": span.cost,
    }
    return {**{k: v for k, v in columns.items() if v}, **(span.metrics or {})}


def span_document(span: Span) -> dict[str, Any]:
    """What a path reads: the span's JSON plus its identity."""
    return {
        "input": span.input,
        "output": span.output,
        "expected": span.expected,
        "metadata": span.metadata or {},
        "metrics": _metrics(span),
        "annotation_metadata": span.annotation_metadata or {},
        "name": span.name,
        "type": span.type,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "model": span.model,
        "error": span.error,
        "tags": span.tags or [],
        "duration_ms": span.duration_ms,
    }


@dataclass
class TraceContext:
    trace: Trace
    spans: list[Span]
    docs: dict[int, dict[str, Any]] = field(default_factory=dict)
    focus_pk: int | None = None  # the span under review: what components without a selector read

    @classmethod
    def load(
        cls, trace: Trace, spans: list[Span] | None = None, focus: Span | None = None, viewer=None
    ) -> TraceContext:
        if spans is None:
            # A bound for pathological traces: views read the first MAX_TRACE_SPANS spans.
            spans = list(Span.objects.filter(trace=trace).order_by("start_time", "id")[:MAX_TRACE_SPANS])
        if viewer is not None:
            from apps.reviews.selectors import spans_as_seen_by

            spans = spans_as_seen_by(viewer, spans)  # blind review queues
        focus_pk = focus.pk if focus is not None and any(s.pk == focus.pk for s in spans) else None
        return cls(trace=trace, spans=spans, docs={s.pk: span_document(s) for s in spans}, focus_pk=focus_pk)

    @property
    def default_span(self) -> Span | None:
        if self.focus_pk is not None:
            return next(s for s in self.spans if s.pk == self.focus_pk)
        return self.root

    @property
    def root(self) -> Span | None:
        return trace_root_span(trace=self.trace, spans=self.spans)

    def matching(self, selector: dict[str, Any] | None) -> list[Span]:
        if not selector:
            return [self.default_span] if self.spans else []
        return [
            s
            for s in self.spans
            if ("name" not in selector or s.name == selector["name"])
            and ("type" not in selector or s.type == selector["type"])
        ]

    def select(self, selector: dict[str, Any] | None) -> Span | None:
        found = self.matching(selector)
        index = (selector or {}).get("index", 0)
        return found[index] if index < len(found) else None


def find_all(path: str, document: Any) -> list[Any]:
    return [match.value for match in parse_path(path).find(document)]


def find_one(path: str, document: Any) -> Any:
    found = find_all(path, document)
    if not found:
        return None
    return found[0] if len(found) == 1 else found


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… ({len(text) - MAX_TEXT} more characters)"


def value_text(value: Any, *, pretty: bool = True) -> str:
    if isinstance(value, str):
        return _truncate(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return _truncate(json.dumps(value, ensure_ascii=False, indent=2 if pretty else None, default=str))


def safe_image_src(value: Any) -> str | None:
    """Only http(s) URLs and raster data URIs (never SVG, which can carry script)."""
    if not isinstance(value, str):
        return None
    candidate = value.strip()
    if DATA_IMAGE.match(candidate):
        return candidate
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme in ("http", "https") and parts.netloc and not any(c in candidate for c in "\"'<>\\ \n\r\t"):
        return candidate
    return None


# ---------------------------------------------------------------- conversation


def _arguments_text(arguments: Any) -> str:
    value, parsed = tool_arguments(arguments)
    return value_text(value) if parsed or not isinstance(arguments, str) else _truncate(arguments)


def _shown_parts(parts: list[dict]) -> list[dict]:
    shown: list[dict] = []
    for part in parts:
        if part["kind"] == "text":
            shown.append({"kind": "text", "text": _truncate(part["text"])})
        elif part["kind"] == "image":
            src = safe_image_src(part["url"])
            shown.append({"kind": "image", "src": src} if src else {"kind": "blocked_image"})
        elif part["kind"] == "tool_result":
            inner = _shown_parts(part["parts"])
            shown.append({"kind": "tool_result", "id": part["id"], "text": "\n".join(p.get("text", "") for p in inner)})
        else:
            shown.append({"kind": "json", "text": value_text(part["value"])})
    return shown


def _message(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not ({"role", "content", "tool_calls"} & set(raw)):
        # Not a chat message (a plain string or an arbitrary object): show it whole.
        return {
            "role": "message",
            "role_class": "other",
            "parts": [{"kind": "text", "text": value_text(raw)}],
            "tool_calls": [],
            "is_tool": False,
        }
    normal = message_normalise(raw)
    role = normal["role"] or "message"
    role_class = role if role in ("user", "assistant", "system", "tool", "developer") else "other"
    if role == "function":
        role_class = "tool"
    calls = [
        {
            "name": c["name"] or ("function" if c["source"] == "function_call" else "tool"),
            "id": c["id"],
            "arguments": _arguments_text(c["arguments"]),
        }
        for c in normal["tool_calls"]
    ]
    return {
        "role": role,
        "role_class": role_class,
        "name": normal["name"],
        "tool_call_id": normal["tool_call_id"],
        "parts": _shown_parts(normal["parts"]),
        "tool_calls": calls,
        "is_tool": role_class == "tool",
    }


def _conversation(component: dict, document: dict) -> dict[str, Any]:
    paths = component["path"] if isinstance(component["path"], list) else [component["path"]]
    raw: list[Any] = []
    for path in paths:
        for found in find_all(path, document):
            raw.extend(chat_items(found))
    if not raw:
        return {"error": f"No messages at {', '.join(paths)}."}
    return {"messages": [_message(m) for m in raw[:MAX_ITEMS]], "hidden": max(0, len(raw) - MAX_ITEMS)}


# ---------------------------------------------------------------- simple components


def _fields(component: dict, document: dict) -> dict[str, Any]:
    rows = []
    for item in component["fields"]:
        found = find_all(item["path"], document)
        value = None if not found else found[0] if len(found) == 1 else found
        rows.append(
            {
                "label": item["label"],
                "text": value_text(value),
                "missing": not found,
                "block": isinstance(value, dict | list) or (isinstance(value, str) and "\n" in value),
            }
        )
    return {"rows": rows}


def _markdown(component: dict, document: dict) -> dict[str, Any]:
    found = find_all(component["path"], document)
    if not found:
        return {"error": f"Nothing at {component['path']}."}
    value = found[0] if len(found) == 1 else found
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        value = value["content"]  # a chat message: its text is what people mean
    if isinstance(value, str):
        return {"markdown": _truncate(value)}
    return {"code": value_text(value)}


def _json(component: dict, document: dict) -> dict[str, Any]:
    path = component.get("path", "$")
    found = find_all(path, document)
    if not found:
        return {"error": f"Nothing at {path}."}
    return {"value": found[0] if len(found) == 1 else found, "open_depth": component.get("open_depth", 1)}


def _tokens(text: str) -> list[str]:
    return re.findall(r"\s+|[^\s]+", text)


def _diff(component: dict, document: dict) -> dict[str, Any]:
    expected_path = component.get("expected_path", "$.expected")
    output_path = component.get("output_path", "$.output")
    expected = find_one(expected_path, document)
    output = find_one(output_path, document)
    if expected is None:
        return {"error": f"No expected value at {expected_path}.", "output": value_text(output)}
    a, b = value_text(expected), value_text(output)
    return {"ops": text_diff_ops(a, b), "same": a == b}


def text_diff_ops(a: str, b: str) -> list[dict[str, str]]:
    """`a` → `b` as equal/delete/insert runs (the trace view's diff component, the experiment compare)."""
    # Word-level diff reads best; very long values fall back to lines to stay fast.
    split = _tokens if len(a) + len(b) < DIFF_TOKEN_LIMIT else (lambda s: s.splitlines(keepends=True))
    left, right = split(a), split(b)
    ops = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if tag == "equal":
            ops.append({"op": "equal", "text": "".join(left[i1:i2])})
        if tag in ("delete", "replace"):
            ops.append({"op": "delete", "text": "".join(left[i1:i2])})
        if tag in ("insert", "replace"):
            ops.append({"op": "insert", "text": "".join(right[j1:j2])})
    return ops


def _image(component: dict, document: dict) -> dict[str, Any]:
    found = find_all(component["path"], document)
    values = [v for item in found for v in (item if isinstance(item, list) else [item])]
    if not values:
        return {"error": f"No image at {component['path']}."}
    images = []
    for value in values[:MAX_ITEMS]:
        src = safe_image_src(value)
        images.append({"src": src} if src else {"blocked": True})
    return {"images": images, "alt": component.get("alt", "")}


# ---------------------------------------------------------------- aggregate


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _aggregate(component: dict, ctx: TraceContext) -> dict[str, Any]:
    spans = ctx.matching(component["spans"])
    display = component["display"]
    path = component.get("path")
    group_by = component.get("group_by")
    per_span = []
    for span in spans:
        doc = ctx.docs[span.pk]
        values = find_all(path, doc) if path else []
        per_span.append((span, doc, values))
    result: dict[str, Any] = {"display": display, "span_count": len(spans)}
    if display in ("count", "sum"):
        groups: dict[str, float] = {}
        skipped = 0
        for _span, doc, values in per_span:
            if display == "count":
                amount = (1 if values else 0) if path else 1
            else:
                numbers = [_number(v) for v in values]
                skipped += sum(1 for n in numbers if n is None)
                amount = sum(n for n in numbers if n is not None)
            key = (value_text(find_one(group_by, doc), pretty=False) or "(none)") if group_by else ""
            groups[key] = groups.get(key, 0) + amount
        total = sum(groups.values())
        result.update(
            {
                "total": _tidy(total),
                "groups": [{"key": k, "value": _tidy(v)} for k, v in sorted(groups.items())] if group_by else [],
                "group_label": group_by or "",
                "skipped": skipped,
            }
        )
    elif display == "list":
        items = [{"span": s.name, "text": value_text(v)} for s, _d, values in per_span for v in values]
        result.update({"items": items[:MAX_ITEMS], "hidden": max(0, len(items) - MAX_ITEMS)})
    else:
        columns = component.get("columns") or [{"label": "Span", "path": "$.name"}, {"label": path, "path": path}]
        rows = []
        for _span, doc, _values in per_span[:MAX_ITEMS]:
            rows.append([value_text(find_one(c["path"], doc), pretty=False) for c in columns])
        result.update(
            {"columns": [c["label"] for c in columns], "rows": rows, "hidden": max(0, len(per_span) - MAX_ITEMS)}
        )
    return result


def _tidy(number: float) -> float | int:
    return int(number) if float(number).is_integer() else round(number, 6)


# ---------------------------------------------------------------- the tree


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
        return _conversation(component, doc)
    if kind == "fields":
        return _fields(component, doc)
    if kind == "markdown":
        return _markdown(component, doc)
    if kind == "json":
        return _json(component, doc)
    if kind == "diff":
        return _diff(component, doc)
    if kind == "image":
        return _image(component, doc)
    if kind == "aggregate":
        return _aggregate(component, ctx)
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
    `review` carries the review page's rules for its item (see apps.views.review.review_state)."""
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


# ---------------------------------------------------------------- the default view


PASSAGE_KEYS = ("documents", "passages", "contexts", "chunks", "results", "hits")
QUESTION_KEYS = ("question", "query", "input", "prompt")
ANSWER_KEYS = ("answer", "response", "output", "result", "text")
TEXT_KEYS = ("text", "page_content", "content", "chunk", "passage")


def _is_chat(value: Any) -> bool:
    items = chat_items(value)
    return bool(items) and all(is_message(m) for m in items)


def _key_with(value: Any, keys: tuple[str, ...], kind) -> str | None:
    if isinstance(value, dict):
        for key in keys:
            if isinstance(value.get(key), kind):
                return key
    return None


def _passages(span: Span) -> tuple[str, str] | None:
    """(path of the passage list, path of a passage's text) in a retrieval span's output."""
    output = span.output
    key = _key_with(output, PASSAGE_KEYS, list)
    items = output[key] if key else output if isinstance(output, list) else None
    if not items:
        return None
    first = items[0]
    text_key = _key_with(first, TEXT_KEYS, str)
    return (f"$.output.{key}" if key else "$.output", f"$.{text_key}" if text_key else "$")


def default_spec(trace: Trace, *, spans: list[Span] | None = None, focus: Span | None = None) -> dict[str, Any]:
    """A view that fits the trace's shape, for reviewers when nobody chose one: an error's message on top;
    chat as a conversation; RAG as question, retrieved passages and answer; agents as the conversation
    and its steps with tool calls; anything else as its input and output. Built from our own components,
    so it renders (and escapes) like any saved view."""
    ctx = TraceContext.load(trace, spans, focus)
    span = ctx.default_span
    components: list[dict[str, Any]] = []
    if span is None:
        return {"version": 1, "components": components}
    by_name: dict[str, int] = {}
    for s in ctx.spans:
        index = by_name.get(s.name, 0)
        by_name[s.name] = index + 1
        if s.error and len(components) < 5:
            components.append(
                {
                    "type": "fields",
                    "title": "Error" if s.pk == span.pk else f"Error in {s.name}",
                    "span": {"name": s.name, "index": index},
                    "fields": [{"label": "Message", "path": "$.error"}],
                }
            )
    retrieval = next((s for s in ctx.spans if s.type == "retrieval" and s.pk != span.pk and _passages(s)), None)
    tools = [s for s in ctx.spans if s.type == "tool" and s.pk != span.pk]
    question_key = _key_with(span.input, QUESTION_KEYS, str)
    if _is_chat(span.input) or _is_chat(span.output):
        components.append({"type": "conversation", "title": "Conversation", "path": ["$.input", "$.output"]})
    elif retrieval is not None or (question_key and _key_with(span.output, PASSAGE_KEYS, list)):
        if question_key:
            components.append({"type": "markdown", "title": "Question", "path": f"$.input.{question_key}"})
        elif isinstance(span.input, str):
            components.append({"type": "markdown", "title": "Question", "path": "$.input"})
        else:
            components.append({"type": "json", "title": "Input", "path": "$.input", "open_depth": 2})
        source = retrieval or span
        found = _passages(source)
        if found:
            item = {"type": "markdown", "path": found[1]}
            components.append(
                {
                    "type": "carousel",
                    "title": "Retrieved passages",
                    "path": found[0],
                    **({"span": {"name": source.name}} if source.pk != span.pk else {}),
                    **(
                        {"item_title": "$.id"}
                        if isinstance(_passage_first(source), dict) and "id" in _passage_first(source)
                        else {}
                    ),
                    "components": [item],
                }
            )
    else:
        components.append(_value_component("Input", "$.input", span.input))
    if not any(c["type"] == "conversation" for c in components):
        answer_key = _key_with(span.output, ANSWER_KEYS, str)
        if answer_key:
            components.append({"type": "markdown", "title": "Answer", "path": f"$.output.{answer_key}"})
        elif span.output is not None:
            components.append(_value_component("Answer" if retrieval else "Output", "$.output", span.output))
    if tools or has_tool_calls(span.input) or has_tool_calls(span.output):
        if tools:
            components.append(
                {
                    "type": "aggregate",
                    "title": "Steps",
                    "spans": {"type": "tool"},
                    "display": "table",
                    "columns": [
                        {"label": "Tool", "path": "$.name"},
                        {"label": "Arguments", "path": "$.input"},
                        {"label": "Result", "path": "$.output"},
                        {"label": "Error", "path": "$.error"},
                        {"label": "ms", "path": "$.duration_ms"},
                    ],
                }
            )
    if span.expected is not None:
        components.append({"type": "diff", "title": "Expected vs output"})
    return {"version": 1, "components": components}


def _passage_first(span: Span) -> Any:
    found = _passages(span)
    if not found:
        return None
    items = find_all(found[0], span_document(span))
    first = items[0] if items else None
    return first[0] if isinstance(first, list) and first else first


def _value_component(title: str, path: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"type": "markdown", "title": title, "path": path}
    return {"type": "json", "title": title, "path": path, "open_depth": 2}
