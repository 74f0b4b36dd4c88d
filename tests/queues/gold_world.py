"""A queue where two reviewers disagree, for the gold tests: three items, each submitted by alice and bob."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.projects.models import Role
from apps.queues.models import ReviewItem, ReviewQueue
from apps.queues.services.filling import review_items_add
from apps.queues.services.queues import review_queue_create
from apps.queues.services.reviewing import review_item_submit
from apps.reviews.services.score_configs import score_config_create


@dataclass
class GoldWorld:
    queue: ReviewQueue
    items: list[ReviewItem]
    alice: object
    bob: object
    lead: object
    configs: dict = field(default_factory=dict)


def submit(item, user, scores, expected=None):
    kwargs = {"expected": expected, "expected_set": True} if expected is not None else {}
    review_item_submit(
        item=ReviewItem.objects.select_related("queue__project", "span__project").get(pk=item.pk),
        user=user,
        scores=scores,
        **kwargs,
    )


def standalone(project, **kwargs) -> GoldWorld:
    """`disputed` without the queue tests' fixtures (for the dataset and export tests)."""
    from tests.projects.world import member as make_member
    from tests.queues.conftest import make_spans

    configs = {
        "correct": score_config_create(project=project, name="correct", kind="boolean"),
        "tone": score_config_create(
            project=project,
            name="tone",
            kind="categorical",
            options=[{"label": "rude", "value": 0}, {"label": "neutral", "value": 1}, {"label": "kind", "value": 2}],
        ),
        "quality": score_config_create(project=project, name="quality", kind="continuous", min_value=0, max_value=10),
    }

    def make_queue(n, **fields):
        queue = review_queue_create(
            project=project, name="Support answers", score_configs=list(configs.values()), **fields
        )
        spans = make_spans(project, n, prefix=f"q{queue.pk}")
        review_items_add(queue=queue, spans=project.spans.filter(pk__in=[s.pk for s in spans]))
        return queue

    return disputed(project, configs, make_queue, lambda p, role, name: make_member(p, role, name), **kwargs)


def build(project, configs, make_queue, member, *, blind=False, n=3) -> GoldWorld:
    notes = score_config_create(project=project, name="notes", kind="text")
    queue = make_queue(n, reviewers_per_item=2, blind=blind)
    queue.score_configs.add(notes)
    alice = member(project, Role.REVIEWER, "alice")
    bob = member(project, Role.REVIEWER, "bob")
    lead = member(project, Role.CURATOR, "lead")
    items = list(ReviewItem.objects.filter(queue=queue).select_related("queue__project", "span__trace").order_by("id"))
    return GoldWorld(queue=queue, items=items, alice=alice, bob=bob, lead=lead, configs={**configs, "notes": notes})


def disputed(project, configs, make_queue, member, **kwargs) -> GoldWorld:
    """Item 0 disagrees on every kind; item 1 agrees on everything (quality within the threshold);
    item 2 disagrees on tone only."""
    w = build(project, configs, make_queue, member, **kwargs)
    i0, i1, i2 = w.items[:3]
    submit(i0, w.alice, {"correct": True, "tone": "kind", "quality": 2, "notes": "fine"}, {"answer": "30 days"})
    submit(i0, w.bob, {"correct": False, "tone": "rude", "quality": 9, "notes": "wrong  policy"}, {"answer": "14 days"})
    submit(i1, w.alice, {"correct": True, "tone": "neutral", "quality": 5, "notes": "ok  then"}, "Same answer")
    submit(i1, w.bob, {"correct": True, "tone": "neutral", "quality": 5.5, "notes": " ok then"}, "Same   answer")
    submit(i2, w.alice, {"tone": "kind"})
    submit(i2, w.bob, {"tone": "neutral"})
    return w
