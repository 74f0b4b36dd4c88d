"""Reviewer metadata on spans (`Span.annotation_metadata`); the ingested `metadata` is never touched."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.traces.models import Span

from ..models import AnnotationSource, MetadataEvent
from .corrections import expected_value_clean
from .validation import FieldErrors

MAX_METADATA_KEY = 200


def annotation_metadata_clean(values: Any, errors: FieldErrors, name: str = "metadata") -> dict | None:
    if not isinstance(values, dict):
        errors.add(name, "Expected an object of key: value pairs.")
        return None
    ok = True
    for key, value in values.items():
        if not isinstance(key, str) or not key.strip():
            errors.add(name, "Keys may not be blank.")
            ok = False
        elif len(key) > MAX_METADATA_KEY:
            errors.add(f"{name}.{key[:40]}", f"Keys are at most {MAX_METADATA_KEY} characters.")
            ok = False
        elif not expected_value_clean(value, errors, f"{name}.{key}"):
            ok = False
    return values if ok else None


def annotation_metadata_write(*, span: Span, values: dict, author, source: str) -> dict:
    current = (
        Span.objects.select_for_update().filter(pk=span.pk).values_list("annotation_metadata", flat=True).first() or {}
    )
    merged = {**current}
    for key, value in values.items():
        if value is None:
            merged.pop(key.strip(), None)
        else:
            merged[key.strip()] = value
    Span.objects.filter(pk=span.pk).update(annotation_metadata=merged)
    span.annotation_metadata = merged
    MetadataEvent.objects.create(project_id=span.project_id, span=span, values=values, author=author, source=source)
    return merged


@transaction.atomic
def annotation_metadata_set(*, span: Span, values: dict, author=None, source: str = AnnotationSource.HUMAN) -> dict:
    """Merge reviewer metadata (a null value removes the key). The ingested `metadata` is untouched."""
    errors = FieldErrors()
    clean = annotation_metadata_clean(values, errors)
    errors.raise_if_any("Invalid metadata.")
    return annotation_metadata_write(span=span, values=clean, author=author, source=source)
