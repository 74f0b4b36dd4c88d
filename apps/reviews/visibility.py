"""Blind review: who sees which annotations. THE rule (`blinded_span_ids`) and its forms: a visibility
object for rows already read, a column, a queryset filter. Every reader of annotations asks it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Exists, OuterRef, Q, QuerySet, Value

from apps.projects.permissions import projects_where
from apps.queues.models import OPEN_STATUSES, ReviewItem, ReviewSubmission

from .models import AnnotationSource


def blinded_span_ids(user) -> QuerySet:
    """THE blind-review rule, as a subquery of span pks: spans that are an open item of a blind queue
    (or a gold question of any queue) which `user` has not submitted, in a project where `user` is not a lead (curator or admin).

    On those spans `user` sees only what they wrote themselves. Superusers, leads, anonymous callers
    and API keys (which read as the project does) are never blinded."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return ReviewItem.objects.none().values("span_id")
    return (
        # A gold question is blinded in any queue: its known answer and earlier answers stay hidden.
        ReviewItem.objects.filter(Q(queue__blind=True) | Q(is_gold_question=True), status__in=OPEN_STATUSES)
        .exclude(queue__project__in=projects_where(user, "queue.lead"))
        .exclude(Exists(ReviewSubmission.objects.filter(item_id=OuterRef("pk"), reviewer=user)))
        .values("span_id")
    )


@dataclass(frozen=True)
class AnnotationVisibility:
    """What one user may see of the annotations of some spans (see `annotations_visible_to`)."""

    user_id: int | None
    username: str | None
    blinded: frozenset[int]

    def sees_others(self, span_pk: int) -> bool:
        return span_pk not in self.blinded

    def own(self, span_pk: int, rows, author_attr: str = "author_id"):
        """Model rows (Score, Comment, Correction, ScoreEvent, SpanTag...) the user may see."""
        if self.sees_others(span_pk):
            return list(rows)
        return [r for r in rows if getattr(r, author_attr) == self.user_id and self.user_id is not None]

    def annotations(self, span_pk: int, data: dict[str, Any], *, my_metadata_keys=()) -> dict[str, Any]:
        """A `span_annotations_bulk` entry narrowed to what the user may see: on a blinded span only
        their own scores, tags, comments, corrections and metadata keys, and as expected their own
        newest correction (an ingested expected only when nobody corrected the span)."""
        if self.sees_others(span_pk):
            return data
        me = self.username

        def mine(items, key):
            return [i for i in items if i.get(key) == me]

        corrections = mine(data["corrections"], "author")
        if corrections:
            expected = corrections[-1]["value"]
        else:
            expected = data["expected"] if not data["corrections"] else None
        return {
            **data,
            "scores": mine(data["scores"], "author"),
            # Ingested tags are trace content, not a reviewer's judgement.
            "tags": [
                t
                for t in data["tags"]
                if t.get("added_by") == me or (t.get("added_by") is None and t.get("source") == AnnotationSource.INGEST)
            ],
            "tag_history": mine(data["tag_history"], "user"),
            "comments": mine(data["comments"], "author"),
            "corrections": corrections,
            "metadata": {k: v for k, v in (data["metadata"] or {}).items() if k in my_metadata_keys},
            "expected": expected,
        }


def annotations_visible_in(user, rows, flag: str = "_blinded") -> AnnotationVisibility:
    """`annotations_visible_to` for span rows read with `blinded_flag(user)` annotated as `flag`: the
    same rule, decided inside the query that reads the spans instead of one of its own."""
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return AnnotationVisibility(
        user_id=user.pk if authenticated else None,
        username=user.get_username() if authenticated else None,
        blinded=frozenset(r.pk for r in rows if getattr(r, flag)) if authenticated else frozenset(),
    )


def blinded_flag(user):
    """Whether a span (the outer query's row) is blinded for `user` (`blinded_span_ids`), as a column."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return Value(False, output_field=BooleanField())
    return Exists(blinded_span_ids(user).filter(span_id=OuterRef("pk")))


def annotations_visible_to(user, span_pks) -> AnnotationVisibility:
    """The one visibility decision every reader of annotations asks (API, admin pages, the annotation
    panel, the review page, board cards, trace views and share pages): which of `span_pks` `user`
    sees only their own annotations on (blind review queues, see `blinded_span_ids`)."""
    pks = [pk for pk in dict.fromkeys(span_pks) if pk is not None]
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    blinded: frozenset[int] = frozenset()
    if authenticated and pks:
        blinded = frozenset(blinded_span_ids(user).filter(span_id__in=pks).values_list("span_id", flat=True).distinct())
    return AnnotationVisibility(
        user_id=user.pk if authenticated else None,
        username=user.get_username() if authenticated else None,
        blinded=blinded,
    )


def visible_annotations_q(user, *, span_field: str = "span", author_field: str = "author") -> Q:
    """The same rule as a filter for querysets of annotation rows (scores, comments, corrections):
    `Score.objects.filter(visible_annotations_q(user))`."""
    if user is None or not getattr(user, "is_authenticated", False) or user.is_superuser:
        return Q()
    return ~Q(**{f"{span_field}__in": blinded_span_ids(user)}) | Q(**{author_field: user})
