"""Reviewer quality: per reviewer of a queue, accuracy on gold questions, agreement with each other
reviewer, time per item and skip rate; and one reviewer's items with their values beside the gold.

How answers are compared (one rule for accuracy and for the pairwise matrix, `answers_match`):
categorical and boolean answers match on the exact label (a multi-select on the exact set of labels);
continuous answers match when they differ by at most the queue's `disagreement_threshold` share of the
config's range (the rule the board and the Disagreements list use; default 10 %: 1 point on 0–10); text answers match when equal after Unicode NFKC, case folding
and collapsing whitespace. The pairwise matrix gives Cohen's kappa for categorical and boolean configs
and, where kappa does not apply (continuous, text), the share of common items that match.

Only what reviewers gave when they submitted the queue's items counts (their human score on the item's
span), as in `analytics`. Accuracy counts submissions made after the item became a gold question, so
answers the known answer was chosen from do not grade themselves.
"""

from __future__ import annotations

import statistics
import unicodedata
from collections import defaultdict
from itertools import combinations
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Q

from .analytics import AGREEMENT_MAX_ITEMS, cohen_kappa
from .models import ReviewItem, ReviewQueue, ReviewSkip, ReviewSubmission

DRILL_DOWN_LIMIT = 200


# ---------------------------------------------------------------- answers


def normalise_text(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text or "").casefold().split())


def answer_of(config, *, value=None, label: str = "", labels=None, text: str = "") -> Any:
    """One reviewer's answer in a comparable form (None: no answer of this config's kind)."""
    kind = config.kind
    if kind == "categorical":
        if labels:
            return tuple(sorted(labels))
        return label or None
    if kind == "boolean":
        return None if value is None else ("yes" if value >= 0.5 else "no")
    if kind == "continuous":
        return None if value is None else float(value)
    return normalise_text(text) or None


def answers_match(config, a: Any, b: Any, *, tolerance: float) -> bool:
    """`tolerance`: the queue's `disagreement_threshold`, a share of a continuous config's range."""
    if a is None or b is None:
        return False
    if config.kind == "continuous":
        span = abs((config.max_value or 0.0) - (config.min_value or 0.0)) or 1.0
        return abs(a - b) <= tolerance * span + 1e-9
    return a == b


def display_answer(answer: Any) -> str:
    if answer is None:
        return ""
    if isinstance(answer, tuple):
        return ", ".join(answer)
    if isinstance(answer, float):
        return f"{answer:g}"
    return str(answer)


def submitted_answers(queue: ReviewQueue, config, *, item_ids=None, reviewer_id=None) -> dict[int, dict[int, Any]]:
    """reviewer id -> {item id -> answer}: the scores reviewers gave on the items they submitted."""
    from apps.reviews.models import Score, ScoreSource

    subs = ReviewSubmission.objects.filter(item__queue=queue)
    if item_ids is not None:
        subs = subs.filter(item_id__in=list(item_ids))
    if reviewer_id is not None:
        subs = subs.filter(reviewer_id=reviewer_id)
    pairs = {
        (span, reviewer): item for item, span, reviewer in subs.values_list("item_id", "item__span_id", "reviewer_id")
    }
    if not pairs:
        return {}
    rows = Score.objects.filter(
        config=config,
        source=ScoreSource.HUMAN,
        span_id__in={span for span, _ in pairs},
        author_id__in={reviewer for _, reviewer in pairs},
    ).values_list("author_id", "span_id", "value", "label", "labels", "text")
    out: dict[int, dict[int, Any]] = defaultdict(dict)
    for author, span, value, label, labels, text in rows.iterator():
        item = pairs.get((span, author))
        if item is None:
            continue
        answer = answer_of(config, value=value, label=label, labels=labels, text=text)
        if answer is not None:
            out[author][item] = answer
    return out


# ---------------------------------------------------------------- gold


def known_answers(queue: ReviewQueue, configs) -> dict[int, dict[int, Any]]:
    """item id -> {config id -> known answer} of the queue's gold questions."""
    from .gold_stream import gold_question_answers

    by_pk = {c.pk: c for c in configs}
    out: dict[int, dict[int, Any]] = defaultdict(dict)
    for item_id, config_id, raw in gold_question_answers(queue=queue, config_ids=list(by_pk)):
        answer = answer_of(by_pk[config_id], **raw)
        if answer is not None:
            out[item_id][config_id] = answer
    return out


def gold_accuracy(queue: ReviewQueue, configs, *, reviewer_id=None) -> dict[int, dict[str, dict[str, Any]]]:
    """reviewer id -> {config name -> {answered, correct, accuracy}} over their gold-question answers."""
    from .gold_stream import gold_marked_at

    known = known_answers(queue, configs)
    if not known:
        return {}
    marked = gold_marked_at(queue=queue, item_ids=list(known))
    subs = ReviewSubmission.objects.filter(item_id__in=list(known))
    if reviewer_id is not None:
        subs = subs.filter(reviewer_id=reviewer_id)
    counted = {
        (item, reviewer)
        for item, reviewer, at in subs.values_list("item_id", "reviewer_id", "submitted_at")
        if marked.get(item) is None or at >= marked[item]
    }
    out: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for config in configs:
        answers = submitted_answers(queue, config, item_ids=list(known), reviewer_id=reviewer_id)
        for reviewer, by_item in answers.items():
            answered = correct = 0
            for item, answer in by_item.items():
                truth = known[item].get(config.pk)
                if truth is None or (item, reviewer) not in counted:
                    continue
                answered += 1
                correct += answers_match(config, answer, truth, tolerance=queue.disagreement_threshold)
            if answered:
                out[reviewer][config.name] = {"answered": answered, "correct": correct, "accuracy": correct / answered}
    return out


# ---------------------------------------------------------------- agreement between reviewers


def _recent_multi_items(queue: ReviewQueue) -> list[int]:
    return list(
        ReviewItem.objects.filter(queue=queue, submission_count__gte=2)
        .order_by("-id")
        .values_list("id", flat=True)[:AGREEMENT_MAX_ITEMS]
    )


def pairwise_agreement(queue: ReviewQueue, config, *, usernames: dict[int, str], item_ids=None) -> dict[str, Any]:
    """Every pair of the queue's reviewers on the items both submitted: Cohen's kappa (categorical,
    boolean) or the share of matching answers (continuous, text), with the number of common items."""
    answers = submitted_answers(queue, config, item_ids=_recent_multi_items(queue) if item_ids is None else item_ids)
    raters = sorted(answers, key=lambda r: usernames.get(r, str(r)))
    measure = "kappa" if config.kind in ("categorical", "boolean") else "match"
    cells: dict[tuple[int, int], dict[str, Any]] = {}
    for a, b in combinations(raters, 2):
        common = sorted(set(answers[a]) & set(answers[b]))
        if not common:
            continue
        if measure == "kappa":
            codes: dict[Any, int] = {}
            xs = [codes.setdefault(answers[a][i], len(codes)) for i in common]
            ys = [codes.setdefault(answers[b][i], len(codes)) for i in common]
            value = cohen_kappa(xs, ys)
        else:
            value = sum(
                answers_match(config, answers[a][i], answers[b][i], tolerance=queue.disagreement_threshold)
                for i in common
            ) / len(common)
        cells[(a, b)] = cells[(b, a)] = {"value": value, "items": len(common)}
    matrix = [[None if a == b else cells.get((a, b)) for b in raters] for a in raters]
    return {
        "config": config.name,
        "kind": config.kind,
        "measure": measure,
        "reviewers": [{"id": r, "username": usernames.get(r, str(r))} for r in raters],
        "matrix": matrix,
    }


# ---------------------------------------------------------------- time and skips


def reviewer_activity(queue: ReviewQueue, *, reviewer_id=None) -> dict[int, dict[str, Any]]:
    """reviewer id -> submitted, skipped, skip rate, median and count of timed submissions."""
    subs = ReviewSubmission.objects.filter(item__queue=queue)
    skips = ReviewSkip.objects.filter(item__queue=queue)
    if reviewer_id is not None:
        subs, skips = subs.filter(reviewer_id=reviewer_id), skips.filter(reviewer_id=reviewer_id)
    out: dict[int, dict[str, Any]] = defaultdict(lambda: {"submitted": 0, "skipped": 0, "seconds": []})
    for reviewer, n in subs.order_by().values_list("reviewer_id").annotate(n=Count("id")):
        out[reviewer]["submitted"] = n
    for reviewer, n in skips.order_by().values_list("reviewer_id").annotate(n=Count("id")):
        out[reviewer]["skipped"] = n
    for reviewer, seconds in (
        subs.filter(seconds_open__isnull=False).values_list("reviewer_id", "seconds_open").iterator()
    ):
        out[reviewer]["seconds"].append(seconds)
    result = {}
    for reviewer, row in out.items():
        seen = row["submitted"] + row["skipped"]
        result[reviewer] = {
            "submitted": row["submitted"],
            "skipped": row["skipped"],
            "skip_rate": row["skipped"] / seen if seen else None,
            "median_seconds": statistics.median(row["seconds"]) if row["seconds"] else None,
            "timed": len(row["seconds"]),
        }
    return result


# ---------------------------------------------------------------- the whole picture


def may_see_everyone(*, queue: ReviewQueue, actor) -> bool:
    """Leads (curators, admins, keys with the write scope) see every reviewer; anyone else only themselves."""
    from apps.projects.permissions import can

    return actor is not None and can(actor, "queue.lead", queue.project)


def queue_quality(
    queue: ReviewQueue, *, only_reviewer_id: int | None = None, with_matrix: bool = True
) -> dict[str, Any]:
    """Per reviewer (all, or one): counts, skip rate, median seconds per item, gold accuracy per config;
    and the pairwise agreement matrix per config (leads only: `with_matrix`)."""
    configs = list(queue.score_configs.all())
    activity = reviewer_activity(queue, reviewer_id=only_reviewer_id)
    accuracy = gold_accuracy(queue, configs, reviewer_id=only_reviewer_id)
    ids = set(activity) | set(accuracy)
    usernames = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))
    reviewers = []
    for rid in sorted(ids, key=lambda r: usernames.get(r, "")):
        act = activity.get(rid, {"submitted": 0, "skipped": 0, "skip_rate": None, "median_seconds": None, "timed": 0})
        gold = accuracy.get(rid, {})
        reviewers.append(
            {
                "id": rid,
                "username": usernames.get(rid, str(rid)),
                **act,
                "gold": [{"config": c.name, **gold[c.name]} for c in configs if c.name in gold],
            }
        )
    data: dict[str, Any] = {
        "reviewers": reviewers,
        "tolerance": {"continuous_share_of_range": queue.disagreement_threshold},
    }
    if with_matrix:
        everyone = dict(
            get_user_model()
            .objects.filter(pk__in=ReviewSubmission.objects.filter(item__queue=queue).values("reviewer_id"))
            .values_list("pk", "username")
        )
        items = _recent_multi_items(queue)
        data["agreement"] = [pairwise_agreement(queue, c, usernames=everyone, item_ids=items) for c in configs]
    return data


def _answer_row(queue: ReviewQueue, config, mine, truth) -> dict[str, Any]:
    """One config's answer of a reviewer beside the gold answer (when known) and whether they match."""
    return {
        "config": config.name,
        "value": display_answer(mine),
        "gold": display_answer(truth) if truth is not None else None,
        "match": answers_match(config, mine, truth, tolerance=queue.disagreement_threshold)
        if truth is not None
        else None,
    }


def reviewer_items(
    queue: ReviewQueue, *, reviewer_id: int, gold_only: bool = False, limit: int = DRILL_DOWN_LIMIT
) -> list[dict[str, Any]]:
    """A reviewer's latest submitted items: per config their answer, the gold answer (a gold question's
    known answer) when there is one, and whether they match."""
    configs = list(queue.score_configs.all())
    subs = ReviewSubmission.objects.filter(item__queue=queue, reviewer_id=reviewer_id)
    if gold_only:
        subs = subs.filter(Q(item__is_gold_question=True))
    rows = list(
        subs.select_related("item__span__trace")
        .only(
            "id",
            "submitted_at",
            "seconds_open",
            "item__id",
            "item__span__span_id",
            "item__span__name",
            "item__span__trace__name",
            "item__span__trace__trace_id",
            "item__span__trace__input_preview",
        )
        .order_by("-id")[:limit]
    )
    item_ids = [s.item_id for s in rows]
    known = known_answers(queue, configs)
    answers = {
        c.pk: submitted_answers(queue, c, item_ids=item_ids, reviewer_id=reviewer_id).get(reviewer_id, {})
        for c in configs
    }
    out = []
    for sub in rows:
        truths = known.get(sub.item_id, {})
        values = [
            _answer_row(queue, config, answers[config.pk].get(sub.item_id), truths.get(config.pk)) for config in configs
        ]
        span = sub.item.span
        out.append(
            {
                "item": sub.item_id,
                "span_id": span.span_id,
                "trace_id": span.trace.trace_id,
                "name": span.trace.name or span.name,
                "preview": span.trace.input_preview,
                "gold_question": sub.item_id in known,
                "submitted_at": sub.submitted_at,
                "seconds_open": sub.seconds_open,
                "values": values,
            }
        )
    return out


def without_gold(row: dict[str, Any]) -> dict[str, Any]:
    """A drill-down row as its reviewer sees it: their values only (which items were gold questions,
    and their known answers, stay with the leads)."""
    return {
        **{k: v for k, v in row.items() if k != "gold_question"},
        "values": [{"config": v["config"], "value": v["value"]} for v in row["values"]],
    }
