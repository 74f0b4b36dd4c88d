"""Corrections: a span's expected output, with every earlier one kept as history."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from apps.traces.models import Span

from ..models import AnnotationSource, Correction
from .validation import FieldErrors

MAX_EXPECTED_BYTES = 1_000_000


def expected_value_clean(value: Any, errors: FieldErrors, name: str = "expected") -> bool:
    try:
        size = len(json.dumps(value, ensure_ascii=False, allow_nan=False).encode())
    except (TypeError, ValueError):
        errors.add(name, "Must be JSON (text, a number, an object or a list) without NaN.")
        return False
    if size > MAX_EXPECTED_BYTES:
        errors.add(name, f"At most {MAX_EXPECTED_BYTES} bytes of JSON.")
        return False
    return True


def correction_write(*, span: Span, value: Any, author, source: str) -> Correction:
    correction = Correction.objects.create(
        project_id=span.project_id, span=span, value=value, author=author, source=source
    )
    Span.objects.filter(pk=span.pk).update(expected=value)
    span.expected = value
    return correction


@transaction.atomic
def correction_record(*, span: Span, value: Any, author=None, source: str = AnnotationSource.HUMAN) -> Correction:
    """A corrected expected output: becomes `Span.expected`; every earlier one stays in the history."""
    errors = FieldErrors()
    if value is None:
        errors.add("expected", "A corrected value is required.")
    else:
        expected_value_clean(value, errors)
    errors.raise_if_any("Invalid correction.")
    return correction_write(span=span, value=value, author=author, source=source)
