"""Tags on spans: validating names, linking and unlinking (with their history), the name caches."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from apps.traces.models import Span, SpanTag, Tag, Trace

from ..models import AnnotationSource, TagEvent
from .validation import FieldErrors

MAX_TAG_LENGTH = 200
MAX_TAGS_PER_CALL = 100  # tags (as ingest's tags a span) and scores a call: each costs a few queries
DEFAULT_TAG_COLOUR = "#64748b"


def tag_name_clean(name: Any, errors: FieldErrors, field_name: str) -> str | None:
    if not isinstance(name, str) or not name.strip():
        errors.add(field_name, "A tag is a non-empty string.")
        return None
    name = name.strip()
    if len(name) > MAX_TAG_LENGTH:
        errors.add(field_name, f"Tags are at most {MAX_TAG_LENGTH} characters (got {len(name)}).")
        return None
    return name


def span_tag_caches_refresh(span: Span) -> None:
    """Recompute the name caches like ingest does: `Span.tags` sorted, `Trace.tags` the sorted union."""
    names = sorted(set(SpanTag.objects.filter(span=span).values_list("tag__name", flat=True)))
    Span.objects.filter(pk=span.pk).update(tags=names)
    span.tags = names
    # Lock the trace so concurrent tag changes on its spans do not lose each other's names.
    Trace.objects.select_for_update().filter(pk=span.trace_id).first()
    trace_names: set[str] = set()
    for span_tags in Span.objects.filter(trace_id=span.trace_id).exclude(tags=[]).values_list("tags", flat=True):
        trace_names.update(span_tags or [])
    Trace.objects.filter(pk=span.trace_id).update(tags=sorted(trace_names))


def _tag_get_or_create(project_id: int, name: str) -> Tag:
    tag = Tag.objects.filter(project_id=project_id, name=name).first()
    if tag is not None:
        return tag
    try:
        with transaction.atomic():
            return Tag.objects.create(project_id=project_id, name=name, colour=DEFAULT_TAG_COLOUR)
    except IntegrityError:
        return Tag.objects.get(project_id=project_id, name=name)


def tag_link(*, span: Span, name: str, user, source: str, refresh: bool = True) -> bool:
    tag = _tag_get_or_create(span.project_id, name)
    try:
        with transaction.atomic():
            _, created = SpanTag.objects.get_or_create(
                span=span, tag=tag, defaults={"added_by": user, "source": source}
            )
    except IntegrityError:
        created = False
    if created:
        TagEvent.objects.create(
            project_id=span.project_id, span=span, tag_name=name, action=TagEvent.Action.ADD, user=user, source=source
        )
        if refresh:
            span_tag_caches_refresh(span)
    return created


def tag_unlink(
    *, span: Span, name: str, user, source: str, refresh: bool = True, only_source: str | None = None
) -> bool:
    links = SpanTag.objects.filter(span=span, tag__project_id=span.project_id, tag__name=name)
    if only_source is not None:
        links = links.filter(source=only_source)
    deleted, _ = links.delete()
    if deleted:
        TagEvent.objects.create(
            project_id=span.project_id,
            span=span,
            tag_name=name,
            action=TagEvent.Action.REMOVE,
            user=user,
            source=source,
        )
        if refresh:
            span_tag_caches_refresh(span)
    return bool(deleted)


@transaction.atomic
def tag_add(*, span: Span, name: str, user=None, source: str = AnnotationSource.HUMAN) -> bool:
    """Put a tag (created in the project on first use) on a span. True if it was not there yet."""
    errors = FieldErrors()
    clean = tag_name_clean(name, errors, "tags")
    errors.raise_if_any("Invalid tag.")
    return tag_link(span=span, name=clean, user=user, source=source)


@transaction.atomic
def tag_remove(*, span: Span, name: str, user=None, source: str = AnnotationSource.HUMAN) -> bool:
    """Take a tag off a span, recording who and when. True if it was there."""
    errors = FieldErrors()
    clean = tag_name_clean(name, errors, "remove_tags")
    errors.raise_if_any("Invalid tag.")
    return tag_unlink(span=span, name=clean, user=user, source=source)


def tag_names_clean(raw: Any, errors: FieldErrors, name: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.add(name, "Expected a list of tag names.")
        return []
    if len(raw) > MAX_TAGS_PER_CALL:
        errors.add(name, f"At most {MAX_TAGS_PER_CALL} tags a call.")
        return []
    names: list[str] = []
    for i, item in enumerate(raw):
        clean = tag_name_clean(item, errors, f"{name}.{i}")
        if clean is not None and clean not in names:
            names.append(clean)
    return names
