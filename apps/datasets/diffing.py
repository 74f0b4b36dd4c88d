"""Side-by-side line diffs of two JSON values (the record history and version diff screens)."""

from __future__ import annotations

import difflib
import json
from typing import Any


def _json_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).splitlines()


def side_by_side(a: Any, b: Any) -> list[dict[str, str]]:
    """Line pairs (left, right, kind) of two values' pretty JSON; the template escapes every line."""
    left, right = _json_lines(a), _json_lines(b)
    rows = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [{"left": left[i], "right": right[j1 + k], "kind": "same"} for k, i in enumerate(range(i1, i2))]
            continue
        span = max(i2 - i1, j2 - j1)
        for k in range(span):
            rows.append(
                {
                    "left": left[i1 + k] if i1 + k < i2 else "",
                    "right": right[j1 + k] if j1 + k < j2 else "",
                    "kind": {"replace": "changed", "delete": "removed", "insert": "added"}[op],
                }
            )
    return rows
