"""Writes for gold questions: a lead (curator or admin: `queue.gold_questions`) marks review items as
gold questions, from their current gold (adjudicated) values or from imported known answers, or
unmarks them. How gold questions are served: `apps/queues/gold_stream.py`."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.exceptions import ApplicationError
from apps.projects.permissions import require

from .models import (
    GoldSource,
    GoldValue,
    GoldValueRevision,
    ItemStatus,
    ReviewItem,
    ReviewQueue,
    ReviewSkip,
    ReviewSubmission,
)

MAX_IMPORT = 1_000
GOLD_FIELDS = (
    "value",
    "label",
    "labels",
    "text",
    "expected",
    "source",
    "chosen_from_id",
    "note",
    "decided_by_id",
    "decided_at",
)


def _signed_in_user(actor):
    return actor if getattr(actor, "is_authenticated", False) and hasattr(actor, "get_username") else None


def _revision(gold: GoldValue) -> None:
    GoldValueRevision.objects.create(
        gold=gold,
        project_id=gold.project_id,
        item_id=gold.item_id,
        config_id=gold.config_id,
        **{f: getattr(gold, f) for f in GOLD_FIELDS},
    )


def _make_gold(queue: ReviewQueue, item_ids: list[int]) -> None:
    """Gold questions wait `pending` for every reviewer, unassigned, outside the counters; the answers
    already given no longer count as the reviewers' open work."""
    from .services.queues import review_queue_recount

    ReviewItem.objects.filter(pk__in=item_ids).update(
        is_gold_question=True, status=ItemStatus.PENDING, assignee=None, completed_at=None, updated_at=timezone.now()
    )
    ReviewSubmission.objects.filter(item_id__in=item_ids, item_open=True).update(item_open=False)
    ReviewSkip.objects.filter(item_id__in=item_ids, item_open=True).update(item_open=False)
    review_queue_recount(queue=queue)


def _items_of(queue: ReviewQueue, item_ids) -> list[ReviewItem]:
    ids = [i for i in item_ids if isinstance(i, int) and not isinstance(i, bool)]
    items = list(ReviewItem.objects.select_for_update().filter(queue=queue, pk__in=ids).order_by("id"))
    if len(items) != len(set(item_ids)):
        raise ApplicationError("Unknown item.", fields={"items": ["Every item must be an item of this queue."]})
    return items


@transaction.atomic
def gold_questions_mark(*, queue: ReviewQueue, item_ids: list[int], actor: Any) -> dict[str, Any]:
    """Make items gold questions with their current gold values (adjudicated) as the known answers.
    Items without a gold score value are left as they are and named in `skipped`."""
    require(actor, "queue.gold_questions", queue.project)
    items = _items_of(queue, item_ids)
    now = timezone.now()
    golds = list(GoldValue.objects.select_for_update().filter(item__in=items, config__isnull=False))
    with_values = {g.item_id for g in golds}
    for gold in golds:
        gold.source, gold.decided_by, gold.decided_at = GoldSource.KNOWN_ANSWER, _signed_in_user(actor), now
        gold.save(update_fields=["source", "decided_by", "decided_at"])
        _revision(gold)
    marked = [i.pk for i in items if i.pk in with_values]
    if marked:
        _make_gold(queue, marked)
        audit_record(actor=actor, action="review_queue.gold_questions_mark", obj=queue, after={"items": marked})
    return {"marked": marked, "skipped": [i.pk for i in items if i.pk not in with_values]}


@transaction.atomic
def gold_questions_unmark(*, queue: ReviewQueue, item_ids: list[int], actor: Any) -> dict[str, Any]:
    """Back to normal items (their known answers stay as their gold values); the status follows the
    submissions they have."""
    from .services.queues import review_queue_recount

    require(actor, "queue.gold_questions", queue.project)
    items = [i for i in _items_of(queue, item_ids) if i.is_gold_question]
    now = timezone.now()
    for item in items:
        done = item.submission_count >= queue.reviewers_per_item
        status = ItemStatus.COMPLETE if done else ItemStatus.PENDING if item.submission_count else ItemStatus.BACKLOG
        ReviewItem.objects.filter(pk=item.pk).update(
            is_gold_question=False, status=status, completed_at=now if done else None, updated_at=now
        )
        ReviewSubmission.objects.filter(item=item).update(item_open=not done)
        ReviewSkip.objects.filter(item=item).update(item_open=not done)
    if items:
        review_queue_recount(queue=queue)
        audit_record(
            actor=actor, action="review_queue.gold_questions_unmark", obj=queue, after={"items": [i.pk for i in items]}
        )
    return {"unmarked": [i.pk for i in items]}


def _clean_questions(queue: ReviewQueue, questions: Any) -> list[tuple[str, list]]:
    """[(span id, [CleanScore])], every field at fault named like `questions[2].answers.tone`."""
    from apps.reviews.services.scores import score_value_clean
    from apps.reviews.services.validation import FieldErrors

    errors = FieldErrors()
    if not isinstance(questions, list) or not 1 <= len(questions) <= MAX_IMPORT:
        errors.add("questions", f"A list of 1 to {MAX_IMPORT} questions.")
        errors.raise_if_any("Invalid gold questions.")
    configs = {c.name: c for c in queue.score_configs.all()}
    out, seen = [], set()
    for n, question in enumerate(questions):
        where = f"questions[{n}]"
        if not isinstance(question, dict) or set(question) - {"span_id", "answers"}:
            errors.add(where, 'An object {"span_id": …, "answers": {config name: value}}.')
            continue
        span_id, answers = question.get("span_id"), question.get("answers")
        if not isinstance(span_id, str) or not span_id or len(span_id) > 255:
            errors.add(f"{where}.span_id", "A span id.")
        elif span_id in seen:
            errors.add(f"{where}.span_id", "This span is given twice.")
        seen.add(span_id)
        if not isinstance(answers, dict) or not answers:
            errors.add(f"{where}.answers", "An object of config name to known answer, with at least one.")
            continue
        cleans = []
        for name, raw in answers.items():
            config = configs.get(name)
            if config is None:
                errors.add(f"{where}.answers.{name}"[:200], "Not a score config of this queue.")
                continue
            clean = score_value_clean(config=config, raw=raw, errors=errors, name=f"{where}.answers.{name}")
            if clean is not None:
                cleans.append(clean)
        out.append((span_id, cleans))
    errors.raise_if_any("Invalid gold questions.")
    return out


@transaction.atomic
def gold_questions_import(*, queue: ReviewQueue, questions: Any, actor: Any) -> dict[str, Any]:
    """Known answers per span and config name (validated like scores). Spans not in the queue yet are
    added to it; each becomes a gold question whose known answers replace any gold values it had."""
    from apps.traces.models import Span

    from .services.filling import review_items_add

    require(actor, "queue.gold_questions", queue.project)
    cleaned = _clean_questions(queue, questions)
    span_ids = [s for s, _ in cleaned]
    spans = dict(Span.objects.filter(project=queue.project, span_id__in=span_ids).values_list("span_id", "pk"))
    missing = [s for s in span_ids if s not in spans]
    if missing:
        raise ApplicationError(
            "Unknown span.", fields={"questions": [f"Not spans of this project: {', '.join(missing[:20])}."]}
        )
    added = review_items_add(queue=queue, spans=Span.objects.filter(pk__in=list(spans.values())), actor=actor)["added"]
    items = dict(ReviewItem.objects.filter(queue=queue, span_id__in=list(spans.values())).values_list("span_id", "pk"))
    now, user = timezone.now(), _signed_in_user(actor)
    for span_id, cleans in cleaned:
        item_id = items[spans[span_id]]
        for clean in cleans:
            gold, _ = GoldValue.objects.update_or_create(
                item_id=item_id,
                config=clean.config,
                defaults={
                    "project_id": queue.project_id,
                    "value": clean.value,
                    "label": clean.label,
                    "labels": clean.labels,
                    "text": clean.text,
                    "expected": None,
                    "source": GoldSource.KNOWN_ANSWER,
                    "chosen_from": None,
                    "note": "imported known answer",
                    "decided_by": user,
                    "decided_at": now,
                },
            )
            _revision(gold)
    _make_gold(queue, list(items.values()))
    audit_record(
        actor=actor,
        action="review_queue.gold_questions_import",
        obj=queue,
        after={"questions": len(cleaned), "added_to_queue": added},
    )
    return {"imported": len(cleaned), "added_to_queue": added, "items": sorted(items.values())}


def gold_questions_of(*, queue: ReviewQueue) -> list[dict[str, Any]]:
    """The queue's gold questions with their known answers (for leads only: the answers are the test)."""
    from .quality import answer_of, display_answer

    configs = {c.pk: c for c in queue.score_configs.all()}
    items = list(
        ReviewItem.objects.filter(queue=queue, is_gold_question=True)
        .select_related("span__trace")
        .only("id", "submission_count", "span__span_id", "span__name", "span__trace__name", "span__trace__trace_id")
        .order_by("id")[:MAX_IMPORT]
    )
    answers: dict[int, dict[str, Any]] = {}
    for gold in GoldValue.objects.filter(item__in=items, config_id__in=list(configs)).filter(
        Q(source=GoldSource.KNOWN_ANSWER)
    ):
        config = configs[gold.config_id]
        answers.setdefault(gold.item_id, {})[config.name] = display_answer(
            answer_of(config, value=gold.value, label=gold.label, labels=gold.labels, text=gold.text)
        )
    return [
        {
            "item": i.pk,
            "span_id": i.span.span_id,
            "trace_id": i.span.trace.trace_id,
            "name": i.span.trace.name or i.span.name,
            "answered": i.submission_count,
            "known_answers": answers.get(i.pk, {}),
        }
        for i in items
    ]
