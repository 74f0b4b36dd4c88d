"""Comments on spans."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.traces.models import Span

from ..models import AnnotationSource, Comment
from .validation import FieldErrors

MAX_COMMENT_LENGTH = 20_000


def comment_text_clean(text: Any, errors: FieldErrors, name: str = "comment") -> str | None:
    if not isinstance(text, str):
        errors.add(name, "Must be text.")
        return None
    if len(text) > MAX_COMMENT_LENGTH:
        errors.add(name, f"At most {MAX_COMMENT_LENGTH} characters (got {len(text)}).")
        return None
    return text.strip() or None


@transaction.atomic
def comment_add(*, span: Span, text: str, author=None, source: str = AnnotationSource.HUMAN) -> Comment:
    errors = FieldErrors()
    clean = comment_text_clean(text, errors)
    if clean is None and not errors.fields:
        errors.add("comment", "A comment may not be blank.")
    errors.raise_if_any("Invalid comment.")
    return Comment.objects.create(project_id=span.project_id, span=span, author=author, source=source, text=clean)
