"""What a view's paths read: the per-span document, the trace context (spans, focus, root, span
selectors), JSONPath reads and the value-to-text and image-source rules every component shares."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from apps.traces.models import Span, Trace
from apps.traces.selectors import trace_root_span

from .schema import parse_path

MAX_ITEMS = 100  # carousel items, aggregate rows, conversation messages shown per component
MAX_TRACE_SPANS = 5000
MAX_TEXT = 100_000  # characters of one value shown before truncating
DATA_IMAGE = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")


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


def text_truncate(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + f"… ({len(text) - MAX_TEXT} more characters)"


def value_text(value: Any, *, pretty: bool = True) -> str:
    if isinstance(value, str):
        return text_truncate(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return text_truncate(json.dumps(value, ensure_ascii=False, indent=2 if pretty else None, default=str))


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
