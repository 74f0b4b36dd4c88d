"""Demo data: a review queue with items in all three states, reviewed by two demo reviewers."""

from __future__ import annotations

import random

from apps.projects.models import Role
from apps.projects.services import demo_member
from apps.traces.models import Span

from .models import ReviewQueue
from .services.filling import review_items_add
from .services.queues import review_queue_create
from .services.reviewing import review_item_next, review_item_submit

QUEUE_NAME = "Weekly sample: support answers"
INSTRUCTIONS = """Judge the **assistant's last answer** against the refund policy.

- *correctness*: is it right according to the policy?
- *helpfulness*: how far did it get the user (slider; a digit sets 0–90 %, `[` and `]` move it by 1 %).
- *follows policy*: does it avoid promising anything the policy does not allow?

Press `?` for the keyboard map.
"""


def _configs(project):
    from apps.reviews.models import ScoreConfig
    from apps.reviews.services.score_configs import score_config_create

    wanted = [
        {
            "name": "correctness",
            "kind": "categorical",
            "options": [
                {"label": "correct", "value": 1},
                {"label": "partially", "value": 0.5},
                {"label": "incorrect", "value": 0},
            ],
        },
        {"name": "helpfulness", "kind": "continuous", "min_value": 0.0, "max_value": 1.0},
        {"name": "follows policy", "kind": "boolean"},
    ]
    out = []
    for spec in wanted:
        existing = ScoreConfig.objects.filter(project=project, name=spec["name"]).first()
        out.append(existing or score_config_create(project=project, **spec))
    return out


def demo_load(*, project, stdout=None, **_options) -> None:
    if ReviewQueue.objects.filter(project=project, name=QUEUE_NAME).exists():
        return
    configs = _configs(project)
    alice, bob = (
        demo_member(project=project, username=name, role=Role.REVIEWER) for name in ("demo-alice", "demo-bob")
    )
    queue = review_queue_create(
        project=project,
        name=QUEUE_NAME,
        instructions=INSTRUCTIONS,
        score_configs=configs,
        reviewers_per_item=2,
        blind=True,
    )
    roots = Span.objects.filter(project=project, parent_span_id="").order_by("start_time", "id")
    picked = list(roots.values_list("pk", flat=True)[:60])
    review_items_add(queue=queue, spans=Span.objects.filter(pk__in=picked))
    rng = random.Random(30)
    labels = ["correct", "partially", "incorrect"]

    def review(user, item):
        truth = rng.choices(labels, weights=[6, 3, 1])[0]
        label = truth if rng.random() < 0.8 else rng.choice(labels)
        review_item_submit(
            item=item,
            user=user,
            scores={
                "correctness": label,
                "helpfulness": round(rng.uniform(0.3, 1.0), 2),
                "follows policy": label != "incorrect" or rng.random() < 0.3,
            },
        )

    # 15 items reviewed by both (complete), 8 by Alice only (pending), the rest left in the backlog.
    for _ in range(15):
        review(alice, review_item_next(queue=queue, user=alice))
        review(bob, review_item_next(queue=queue, user=bob))
    for _ in range(8):
        review(alice, review_item_next(queue=queue, user=alice))
    queue.refresh_from_db()
    if stdout is not None:
        stdout.write(
            f"  review queue: {queue.complete_count} complete, {queue.pending_count} pending, "
            f"{queue.backlog_count} backlog"
        )
