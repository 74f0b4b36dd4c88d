"""The feedback endpoint's write: one call carrying any annotation, idempotent by `feedback_id`."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project
from apps.traces.models import Span, Trace
from apps.traces.selectors import trace_root_span

from ..models import Feedback, ScoreSource
from .annotations import annotation_plan, annotation_plan_execute
from .validation import FieldErrors

MAX_FEEDBACK_ID = 200


FEEDBACK_KEYS = {
    "span_id",
    "trace_id",
    "scores",
    "expected",
    "comment",
    "tags",
    "remove_tags",
    "metadata",
    "source",
    "feedback_id",
    "project",
}


@dataclass
class FeedbackOutcome:
    result: dict[str, Any]
    replayed: bool


def span_for_feedback(*, project: Project, span_id: Any, trace_id: Any) -> Span:
    """The span a feedback call names (a trace → its root span); another project's ids are 404."""
    errors = FieldErrors()
    for name, value in (("span_id", span_id), ("trace_id", trace_id)):
        if value is not None and (not isinstance(value, str) or not value.strip() or len(value) > 128):
            errors.add(name, "Expected a non-empty id string.")
    if span_id is None and trace_id is None:
        errors.add("span_id", "Give span_id or trace_id.")
    errors.raise_if_any("Name the span or trace.")
    missing = ApplicationError("Span not found.", status=404)
    if span_id is not None:
        span = Span.objects.select_related("trace").filter(project=project, span_id=span_id).first()
        if span is None or (trace_id is not None and span.trace.trace_id != trace_id):
            raise missing
        return span
    trace = Trace.objects.filter(project=project, trace_id=trace_id).first()
    if trace is None:
        raise ApplicationError("Trace not found.", status=404)
    span = trace_root_span(trace=trace)
    if span is None:
        raise ApplicationError("Trace not found.", status=404)
    return span


def _request_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def feedback_apply(
    *, project: Project, data: dict, source_default: str = ScoreSource.API, key=None, user=None
) -> FeedbackOutcome:
    """Apply one feedback call: validate everything, then write all or nothing.

    With `feedback_id` a retry (even concurrent) returns the first call's result and writes nothing.
    A key with only the `feedback` scope writes as `end_user`; other keys as `api` (default),
    `automated` or `end_user`; a signed-in member also as `human`.
    """
    if not isinstance(data, dict):
        raise ApplicationError("Expected a JSON object.", fields={"non_field_errors": ["Expected a JSON object."]})
    errors = FieldErrors()
    for unknown in sorted(set(data) - FEEDBACK_KEYS):
        errors.add(unknown, "Unknown field.")
    feedback_only = key is not None and not key.has_scope("write")
    source = data.get("source") or source_default
    author = user if (user is not None and getattr(user, "is_authenticated", False)) else None
    _source_check(source, key=key, feedback_only=feedback_only, author=author, errors=errors)
    feedback_id = data.get("feedback_id")
    if feedback_id is not None and (
        not isinstance(feedback_id, str) or not feedback_id.strip() or len(feedback_id) > MAX_FEEDBACK_ID
    ):
        errors.add("feedback_id", f"A non-empty string of at most {MAX_FEEDBACK_ID} characters.")
    errors.raise_if_any("Invalid feedback.")

    span = span_for_feedback(project=project, span_id=data.get("span_id"), trace_id=data.get("trace_id"))
    request_hash = _request_hash(data)
    if feedback_id is not None:
        replay = _feedback_replay(project, feedback_id, request_hash)
        if replay is not None:
            return replay
    plan = annotation_plan(project=project, data=data, errors=errors)
    errors.raise_if_any("Invalid feedback.")
    if plan.is_empty():
        raise ApplicationError(
            "Nothing to record.",
            fields={
                "non_field_errors": ["Give at least one of scores, expected, comment, tags, remove_tags, metadata."]
            },
        )

    with transaction.atomic():
        record = None
        if feedback_id is not None:
            record = _feedback_claim(project, feedback_id, span, request_hash)
            if isinstance(record, FeedbackOutcome):
                return record
        written = annotation_plan_execute(span=span, plan=plan, author=author, source=source, public=feedback_only)
        result = {
            "span_id": span.span_id,
            "trace_id": span.trace.trace_id,
            "feedback_id": feedback_id,
            "source": source,
            **written,
        }
        if record is not None:
            record.result = result
            record.save(update_fields=["result"])
    return FeedbackOutcome(result=result, replayed=False)


def _source_check(source: Any, *, key, feedback_only: bool, author, errors: FieldErrors) -> None:
    """A feedback-only key writes as `end_user`; other keys as `api`, `automated` or `end_user`; a
    signed-in member as any source, `human` included."""
    if feedback_only:
        allowed = [ScoreSource.END_USER]
    elif key is not None:
        allowed = [ScoreSource.API, ScoreSource.AUTOMATED, ScoreSource.END_USER]
    else:
        allowed = list(ScoreSource.values)
    if source not in allowed:
        errors.add("source", f"Choose one of {', '.join(allowed)}.")
    if source == ScoreSource.HUMAN and author is None:
        errors.add("source", "Human feedback needs a signed-in reviewer.")


def _feedback_claim(project: Project, feedback_id: str, span: Span, request_hash: str) -> Feedback | FeedbackOutcome:
    """Claim the id first: a concurrent retry blocks on the unique key until we commit, then replays."""
    try:
        with transaction.atomic():
            return Feedback.objects.create(
                project=project, feedback_id=feedback_id, span=span, request_hash=request_hash
            )
    except IntegrityError:
        replay = _feedback_replay(project, feedback_id, request_hash)
        if replay is not None:
            return replay
        raise ApplicationError("Feedback with this id is being recorded; retry.", status=409)


def _feedback_replay(project: Project, feedback_id: str, request_hash: str) -> FeedbackOutcome | None:
    record = Feedback.objects.filter(project=project, feedback_id=feedback_id).first()
    if record is None:
        return None
    if record.request_hash != request_hash:
        raise ApplicationError(
            "This feedback_id was already used with a different body.",
            fields={"feedback_id": ["Already used with a different body; use a new id."]},
            status=409,
        )
    return FeedbackOutcome(result=record.result, replayed=True)
