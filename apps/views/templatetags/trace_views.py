"""Template helpers of trace views: sanitised Markdown and a server-built collapsible JSON tree."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from apps.core.markdown import render_markdown

register = template.Library()

MAX_NODES = 5000
MAX_STRING = 10_000
MAX_DEPTH = 60


@register.filter
def tv_markdown(text: str) -> SafeString:
    return render_markdown(text)


class _Budget:
    def __init__(self, nodes: int):
        self.left = nodes


def _scalar(value: Any) -> SafeString:
    if isinstance(value, str):
        shown = value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…"
        return format_html('<span class="tv-j-str">{}</span>', json.dumps(shown, ensure_ascii=False))
    if value is None:
        return mark_safe('<span class="tv-j-null">null</span>')  # noqa: S308 - a constant, no content
    if isinstance(value, bool):
        return format_html('<span class="tv-j-bool">{}</span>', "true" if value else "false")
    if isinstance(value, int | float):
        return format_html('<span class="tv-j-num">{}</span>', value)
    return format_html('<span class="tv-j-str">{}</span>', str(value))


def _node(key: str | None, value: Any, depth: int, open_depth: int, budget: _Budget) -> SafeString:
    budget.left -= 1
    label = format_html('<span class="tv-j-key">{}</span>: ', key) if key is not None else ""
    if budget.left < 0 or depth > MAX_DEPTH:
        return format_html('<div class="tv-j-leaf">{}<span class="tv-muted">… (truncated)</span></div>', label)
    if isinstance(value, dict | list):
        if not value:
            return format_html(
                '<div class="tv-j-leaf">{}<span class="tv-j-punct">{}</span></div>',
                label,
                "{}" if isinstance(value, dict) else "[]",
            )
        items = value.items() if isinstance(value, dict) else enumerate(value)
        children = format_html_join("", "{}", ((_node(str(k), v, depth + 1, open_depth, budget),) for k, v in items))
        summary = f"{{{len(value)} keys}}" if isinstance(value, dict) else f"[{len(value)} items]"
        return format_html(
            '<details class="tv-j-node"{}><summary>{}<span class="tv-j-punct">{}</span></summary>'
            '<div class="tv-j-children">{}</div></details>',
            mark_safe(" open") if depth < open_depth else "",
            label,
            summary,
            children,
        )
    return format_html('<div class="tv-j-leaf">{}{}</div>', label, _scalar(value))


@register.simple_tag
def tv_json_tree(value: Any, open_depth: int = 1) -> SafeString:
    """Nested <details>: every key and value passes through format_html, so all of it is escaped."""
    return _node(None, value, 0, open_depth if isinstance(open_depth, int) else 1, _Budget(MAX_NODES))
