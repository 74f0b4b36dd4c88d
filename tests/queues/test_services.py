"""Queue rules through the services: filling, reserving, completing, skipping, moving, counters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.queues.models import ItemStatus, ReviewItem
from apps.queues.selectors import queue_progress
from apps.queues.services.board import review_item_assign, review_item_move
from apps.queues.services.filling import (
    queues_on_ingest,
    review_items_add,
    review_items_add_by_filter,
    review_items_add_traces,
)
from apps.queues.services.reviewing import review_item_next, review_item_skip, review_item_submit
from apps.traces.models import ReviewStatus, Span, Trace
from tests import factories

from .conftest import make_spans

pytestmark = pytest.mark.django_db


def _counts(queue):
    queue.refresh_from_db()
    real = {s: ReviewItem.objects.filter(queue=queue, status=s).count() for s in ItemStatus.values}
    assert real == {"backlog": queue.backlog_count, "pending": queue.pending_count, "complete": queue.complete_count}
    return real


def test_filling_by_filter_honours_it_and_never_duplicates(project, make_queue):
    queue = make_queue()
    make_spans(project, 3, name="refund")
    make_spans(project, 2, name="billing")
    result = review_items_add_by_filter(queue=queue, target="traces", params={"name": ["refund"]})
    assert result == {"matched": 3, "added": 3, "already_queued": 0}
    again = review_items_add_by_filter(queue=queue, target="traces", params={"name": "refund,billing"})
    assert again == {"matched": 5, "added": 2, "already_queued": 3}
    assert ReviewItem.objects.filter(queue=queue).count() == 5
    assert _counts(queue)["backlog"] == 5
    assert set(Trace.objects.filter(project=project).values_list("review_status", flat=True)) == {ReviewStatus.QUEUED}


def test_trace_adds_its_root_span_only(project, make_queue):
    queue = make_queue()
    (root,) = make_spans(project, 1, name="agent")
    factories.SpanFactory(trace=root.trace, span_id="child", parent_span_id=root.span_id, name="tool")
    review_items_add_traces(queue=queue, traces=Trace.objects.filter(pk=root.trace_id))
    assert list(ReviewItem.objects.filter(queue=queue).values_list("span__span_id", flat=True)) == [root.span_id]


def test_other_projects_spans_are_never_added(project, other_project, make_queue):
    queue = make_queue()
    make_spans(other_project, 2, name="theirs")
    result = review_items_add(queue=queue, spans=Span.objects.all())
    assert result["added"] == 0


def test_bad_filter_names_the_field(project, make_queue):
    queue = make_queue()
    with pytest.raises(ApplicationError) as exc:
        review_items_add_by_filter(queue=queue, target="spans", params={"type": "nonsense", "bogus": 1})
    assert set(exc.value.fields) == {"span_filter.type", "span_filter.bogus"}


def test_next_reserves_distinct_items_and_expires(project, make_queue, member):
    queue = make_queue(3, reservation_minutes=5)
    alice, bob = member(project), member(project)
    a = review_item_next(queue=queue, user=alice)
    b = review_item_next(queue=queue, user=bob)
    assert a.pk != b.pk
    assert review_item_next(queue=queue, user=alice).pk == a.pk  # resumes her reservation
    assert a.status == ItemStatus.PENDING and a.reserved_by == alice
    # Once Alice's reservation lapses, Bob can be offered her item.
    ReviewItem.objects.filter(pk=a.pk).update(reserved_until=timezone.now() - timedelta(seconds=1))
    review_item_skip(item=b, user=bob)
    assert review_item_next(queue=queue, user=bob).pk == a.pk
    _counts(queue)


def test_completion_needs_n_reviewers(project, make_queue, member):
    queue = make_queue(1, reviewers_per_item=2)
    alice, bob, carol = member(project), member(project), member(project)
    item = review_item_next(queue=queue, user=alice)
    review_item_submit(item=item, user=alice, scores={"correct": True})
    item.refresh_from_db()
    assert item.status == ItemStatus.PENDING and item.submission_count == 1 and item.reserved_by is None
    assert review_item_next(queue=queue, user=alice) is None  # never offered again to her
    assert review_item_next(queue=queue, user=bob).pk == item.pk
    review_item_submit(item=item, user=bob, scores={"correct": False})
    item.refresh_from_db()
    assert item.status == ItemStatus.COMPLETE and item.completed_at is not None
    assert review_item_next(queue=queue, user=carol) is None
    with pytest.raises(ApplicationError) as exc:
        review_item_submit(item=item, user=carol, scores={"correct": True})
    assert exc.value.status == 409
    assert item.span.trace.__class__.objects.get(pk=item.span.trace_id).review_status == ReviewStatus.REVIEWED
    _counts(queue)


def test_resubmitting_updates_scores_without_counting_twice(project, make_queue, member):
    from apps.reviews.models import Score

    queue = make_queue(1, reviewers_per_item=2)
    alice = member(project)
    item = review_item_next(queue=queue, user=alice)
    review_item_submit(item=item, user=alice, scores={"tone": "rude"})
    review_item_submit(item=item, user=alice, scores={"tone": "kind"})
    item.refresh_from_db()
    assert item.submission_count == 1
    assert list(Score.objects.filter(span=item.span).values_list("label", flat=True)) == ["kind"]


def test_submit_rejects_configs_outside_the_queue_and_reserved_items(project, make_queue, member):
    from apps.reviews.services.score_configs import score_config_create

    score_config_create(project=project, name="elsewhere", kind="boolean")
    queue = make_queue(1)
    alice, bob = member(project), member(project)
    item = review_item_next(queue=queue, user=alice)
    with pytest.raises(ApplicationError) as exc:
        review_item_submit(item=item, user=alice, scores={"elsewhere": True})
    assert "scores.elsewhere" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        review_item_submit(item=item, user=bob, scores={"correct": True})
    assert exc.value.status == 409


def test_skip_sends_the_item_back_to_others(project, make_queue, member):
    queue = make_queue(2)
    alice, bob = member(project), member(project)
    first = review_item_next(queue=queue, user=alice)
    review_item_skip(item=first, user=alice)
    first.refresh_from_db()
    assert first.status == ItemStatus.BACKLOG and first.reserved_by is None
    second = review_item_next(queue=queue, user=alice)
    assert second.pk != first.pk
    assert review_item_next(queue=queue, user=bob).pk == first.pk
    _counts(queue)


def test_assigned_items_go_to_their_assignee_first(project, make_queue, member):
    queue = make_queue(3)
    alice, bob = member(project), member(project)
    last = ReviewItem.objects.filter(queue=queue).order_by("-id").first()
    review_item_assign(item=last, assignee=bob)
    assert review_item_next(queue=queue, user=bob).pk == last.pk
    review_item_skip(item=last, user=bob)
    offered = {review_item_next(queue=queue, user=alice).pk}
    assert last.pk not in offered


def test_assign_refuses_non_members(project, other_project, make_queue, member):
    queue = make_queue(1)
    outsider = member(other_project)
    with pytest.raises(ApplicationError) as exc:
        review_item_assign(item=queue.items.first(), assignee=outsider)
    assert "assignee" in exc.value.fields


def test_only_leads_move_cards_complete_needs_a_submission_and_moving_back_reopens(project, make_queue, member):
    queue = make_queue(2)
    lead, reviewer = member(project, role="curator"), member(project)
    item = queue.items.order_by("id").first()
    with pytest.raises(ApplicationError) as exc:
        review_item_move(item=item, status="complete", user=lead)
    assert "status" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        review_item_move(item=item, status="pending", user=reviewer)
    assert exc.value.status == 403
    review_item_move(item=item, status="pending", user=lead)
    review_item_next(queue=queue, user=reviewer)
    review_item_submit(item=item, user=reviewer, scores={"correct": True})
    item.refresh_from_db()
    assert item.status == ItemStatus.COMPLETE
    review_item_move(item=item, status="pending", user=lead)  # reopen
    item.refresh_from_db()
    assert item.status == ItemStatus.PENDING and item.completed_at is None
    assert Trace.objects.get(pk=item.span.trace_id).review_status == ReviewStatus.QUEUED
    _counts(queue)


def test_progress_counts_what_is_left_and_done_for_each_reviewer(project, make_queue, member):
    queue = make_queue(4, reviewers_per_item=1)
    alice, bob = member(project), member(project)
    item = review_item_next(queue=queue, user=alice)
    review_item_submit(item=item, user=alice, scores={"correct": True})
    skipped = review_item_next(queue=queue, user=bob)
    review_item_skip(item=skipped, user=bob)
    queue.refresh_from_db()
    assert queue_progress(queue=queue, user=alice, with_done=True) == {
        "total": 4,
        "backlog": 3,
        "pending": 0,
        "complete": 1,
        "left_for_you": 3,
        "done_by_you": 1,
    }
    assert queue_progress(queue=queue, user=bob)["left_for_you"] == 2


def test_left_for_you_counts_open_work_only(project, make_queue, member):
    queue = make_queue(3, reviewers_per_item=2)
    alice, bob, lead = member(project), member(project), member(project, role="curator")
    item = review_item_next(queue=queue, user=alice)
    review_item_submit(item=item, user=alice, scores={"correct": True})
    queue.refresh_from_db()
    assert queue_progress(queue=queue, user=alice)["left_for_you"] == 2
    assert queue_progress(queue=queue, user=bob)["left_for_you"] == 3
    review_item_submit(item=review_item_next(queue=queue, user=bob), user=bob, scores={"correct": True})
    queue.refresh_from_db()  # the item is complete: nobody has it left
    assert queue_progress(queue=queue, user=alice)["left_for_you"] == 2
    assert queue_progress(queue=queue, user=bob)["left_for_you"] == 2
    review_item_move(item=item, status="pending", user=lead)  # reopened: still done by both
    queue.refresh_from_db()
    assert queue_progress(queue=queue, user=alice)["left_for_you"] == 2
    assert queue_progress(queue=queue, user=lead)["left_for_you"] == 3


def test_queue_assignees_restrict_reviewers(project, make_queue, member):
    alice, bob = member(project), member(project)
    queue = make_queue(1, assignees=[alice])
    assert review_item_next(queue=queue, user=alice) is not None
    with pytest.raises(ApplicationError) as exc:
        review_item_next(queue=queue, user=bob)
    assert exc.value.status == 403


def test_viewers_cannot_review(project, make_queue, member):
    queue = make_queue(1)
    with pytest.raises(ApplicationError):
        review_item_next(queue=queue, user=member(project, role="viewer"))


def test_rule_adds_matching_sampled_traces_on_ingest(project, make_queue):
    from apps.core import registry

    queue = make_queue(rule_enabled=True, rule_target="traces", rule_filter={"name": "refund"}, rule_sampling_rate=0.5)
    assert queues_on_ingest in registry.ingest_hooks
    spans = make_spans(project, 40, name="refund") + make_spans(project, 5, name="other")
    trace_pks = [s.trace_id for s in spans]
    for hook in registry.ingest_hooks:
        hook(project=project, trace_pks=trace_pks)
    added = set(ReviewItem.objects.filter(queue=queue).values_list("span__trace__name", flat=True))
    count = ReviewItem.objects.filter(queue=queue).count()
    assert added == {"refund"} and 8 <= count <= 32  # sampled, about half
    for hook in registry.ingest_hooks:  # the same batch again adds nothing: sampling is by id
        hook(project=project, trace_pks=trace_pks)
    assert ReviewItem.objects.filter(queue=queue).count() == count
    _counts(queue)


def test_rule_filter_is_validated(project, make_queue):
    with pytest.raises(ApplicationError) as exc:
        make_queue(rule_enabled=True, rule_target="spans", rule_filter={"nope": 1})
    assert "rule_filter" in exc.value.fields


def test_rule_through_real_ingest_adds_the_root_once_spans_arrive_out_of_order(
    project, make_queue, django_capture_on_commit_callbacks
):
    from apps.traces.services import span_batch_ingest

    queue = make_queue(rule_enabled=True, rule_target="traces", rule_filter={"has_error": True})
    t0 = 1_700_000_000
    spans = [
        {
            "trace_id": "ooo",
            "span_id": "root",
            "name": "support-agent",
            "type": "task",
            "start_time": t0,
            "end_time": t0 + 3,
            "input": [{"role": "user", "content": "Where is my parcel?"}],
            "output": "Soon.",
        },
        {
            "trace_id": "ooo",
            "span_id": "retrieve",
            "parent_span_id": "root",
            "name": "search",
            "type": "retrieval",
            "start_time": t0 + 1,
            "end_time": t0 + 2,
        },
        {
            "trace_id": "ooo",
            "span_id": "llm",
            "parent_span_id": "retrieve",
            "name": "chat",
            "type": "llm",
            "start_time": t0 + 2,
            "end_time": t0 + 3,
            "error": {"message": "rate limited"},
        },
    ]
    for batch in ([spans[2]], [spans[1], spans[2]], [spans[0]], spans):
        with django_capture_on_commit_callbacks(execute=True):
            span_batch_ingest(project=project, items=batch)
    assert list(ReviewItem.objects.filter(queue=queue).values_list("span__span_id", flat=True)) == ["root"]
    assert Trace.objects.get(trace_id="ooo").review_status == ReviewStatus.QUEUED


def test_assign_rules_reviewer_or_above_member_and_queue_assignees(project, other_project, make_queue, member):
    lead = member(project, role="curator")
    alice, bob = member(project), member(project)
    viewer = member(project, role="viewer")
    queue = make_queue(1)
    item = queue.items.first()
    with pytest.raises(ApplicationError) as exc:
        review_item_assign(item=item, assignee=viewer, user=lead)
    assert "assignee" in exc.value.fields
    with pytest.raises(ApplicationError) as exc:
        review_item_assign(item=item, assignee=bob, user=alice)  # a reviewer is not a lead
    assert exc.value.status == 403
    assert review_item_assign(item=item, assignee=bob, user=lead).assignee_id == bob.pk
    assert review_item_assign(item=item, assignee=None, user=lead).assignee_id is None
    # A queue that names its assignees takes only them (and project admins).
    named = make_queue(1, name="Named", assignees=[alice])
    named_item = named.items.first()
    with pytest.raises(ApplicationError):
        review_item_assign(item=named_item, assignee=bob, user=lead)
    admin = member(project, role="admin")
    review_item_assign(item=named_item, assignee=alice, user=lead)
    assert review_item_assign(item=named_item, assignee=admin, user=lead).assignee_id == admin.pk
