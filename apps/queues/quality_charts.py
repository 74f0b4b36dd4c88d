"""Geometry of the reviewer-quality charts (the templates draw them as SVG with escaped labels and
colours from the admin's CSS variables, so the dark theme works and the CSP needs no inline style)."""

from __future__ import annotations

from typing import Any

WIDTH = 420
LABEL = 140
ROW = 26
BAR = 20
CELL = 44
HEAT_LABEL = 120


def _short(label: str, n: int = 18) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def value_bars(bars: list[tuple[str, float | None, str]], *, maximum: float) -> dict[str, Any]:
    """Horizontal bars of (label, value, text shown after the bar), scaled to `maximum`."""
    plot = WIDTH - LABEL - 70
    rows = []
    for i, (label, value, text) in enumerate(bars):
        width = 0.0 if value is None or maximum <= 0 else round(plot * min(value, maximum) / maximum, 1)
        rows.append(
            {
                "label": _short(label),
                "full_label": label,
                "text": text,
                "y": i * ROW,
                "text_y": i * ROW + BAR * 0.7,
                "width": width,
                "text_x": LABEL + width + 6,
            }
        )
    return {
        "rows": rows,
        "width": WIDTH,
        "height": max(len(rows) * ROW, BAR),
        "label_width": LABEL,
        "bar_x": LABEL,
        "bar_height": BAR,
    }


def heatmap(agreement: dict[str, Any]) -> dict[str, Any]:
    """A reviewers × reviewers grid: each cell's opacity is the pair's agreement (kappa below zero
    is drawn in the error colour), with the value and the number of common items in its tooltip."""
    names = [r["username"] for r in agreement["reviewers"]]
    cells = []
    for i, row in enumerate(agreement["matrix"]):
        for j, cell in enumerate(row):
            x, y = HEAT_LABEL + j * CELL, HEAT_LABEL // 2 + i * CELL
            base = {
                "x": x,
                "y": y,
                "row": names[i],
                "col": names[j],
                "text_x": x + CELL / 2,
                "text_y": y + CELL / 2 + 4,
            }
            if cell is None or cell["value"] is None:
                cells.append(
                    {
                        **base,
                        "empty": True,
                        "tip": "same reviewer"
                        if i == j
                        else "no common items"
                        if cell is None
                        else f"{cell['items']} common items; undefined",
                    }
                )
                continue
            value = cell["value"]
            cells.append(
                {
                    **base,
                    "empty": False,
                    "negative": value < 0,
                    "opacity": round(max(0.12, min(abs(value), 1.0)), 2),
                    "text": f"{value:.2f}",
                    "tip": f"{value:.3f} over {cell['items']} common items",
                }
            )
    size = len(names)
    return {
        "cells": cells,
        "cell": CELL,
        "rows": [
            {"label": _short(n, 14), "full": n, "y": HEAT_LABEL // 2 + i * CELL + CELL / 2 + 4}
            for i, n in enumerate(names)
        ],
        "cols": [
            {"label": _short(n, 6), "full": n, "x": HEAT_LABEL + j * CELL + CELL / 2} for j, n in enumerate(names)
        ],
        "label_x": HEAT_LABEL - 6,
        "head_y": HEAT_LABEL // 2 - 8,
        "width": HEAT_LABEL + size * CELL + 4,
        "height": HEAT_LABEL // 2 + size * CELL + 4,
    }


def quality_charts(data: dict[str, Any]) -> dict[str, Any]:
    """Charts for the analytics page: accuracy per config across reviewers, median time per reviewer,
    and one agreement heatmap per config."""
    configs: dict[str, list[tuple[str, float, str]]] = {}
    for r in data["reviewers"]:
        for g in r.get("gold", []):
            configs.setdefault(g["config"], []).append(
                (r["username"], g["accuracy"], f"{g['accuracy']:.0%} of {g['answered']}")
            )
    times = [
        (r["username"], r["median_seconds"], f"{r['median_seconds']:.0f} s")
        for r in data["reviewers"]
        if r["median_seconds"] is not None
    ]
    return {
        "accuracy": [{"config": name, "chart": value_bars(rows, maximum=1.0)} for name, rows in configs.items()],
        "time": value_bars(times, maximum=max((t[1] for t in times), default=0.0)) if times else None,
        "heatmaps": [{**a, "chart": heatmap(a)} for a in data.get("agreement", []) if len(a["reviewers"]) >= 2],
    }
