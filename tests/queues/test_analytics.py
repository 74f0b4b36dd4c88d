"""Agreement figures against published worked examples, computed from reviews stored through the queue."""

from __future__ import annotations

import math

import pytest

from apps.queues import analytics
from apps.queues.services.filling import review_items_add
from apps.queues.services.queues import review_queue_create
from apps.queues.services.reviewing import review_item_submit
from apps.reviews.services.score_configs import score_config_create

from .conftest import make_spans

pytestmark = pytest.mark.django_db

NA = None
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
# twelve units, missing values. Published: nominal alpha = 0.743, interval alpha = 0.849.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NA, NA, NA],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NA, 3],
    [NA, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NA],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NA],
]


def _queue_with(project, member, configs, n_items, raters, reviewers_per_item):
    queue = review_queue_create(
        project=project, name="Agreement", score_configs=configs, reviewers_per_item=reviewers_per_item
    )
    spans = make_spans(project, n_items, name="unit")
    review_items_add(queue=queue, spans=project.spans.filter(pk__in=[s.pk for s in spans]))
    items = list(queue.items.order_by("id"))
    users = [member(project) for _ in range(raters)]
    return queue, items, users


def test_krippendorff_2011_example_nominal_and_interval(project, member):
    labels = score_config_create(
        project=project, name="code", kind="categorical", options=[{"label": str(v), "value": v} for v in range(1, 6)]
    )
    numbers = score_config_create(project=project, name="amount", kind="continuous", min_value=0, max_value=10)
    queue, items, users = _queue_with(project, member, [labels, numbers], 12, 4, reviewers_per_item=4)
    for user, row in zip(users, KRIPPENDORFF_2011, strict=True):
        for item, value in zip(items, row, strict=True):
            if value is not None:
                review_item_submit(item=item, user=user, scores={"code": str(value), "amount": value})
    by_config = {row["config"]: row for row in analytics.queue_agreement(queue)}
    assert round(by_config["code"]["alpha"], 3) == 0.743
    assert by_config["code"]["alpha_level"] == "nominal"
    assert round(by_config["amount"]["alpha"], 3) == 0.849
    assert by_config["amount"]["alpha_level"] == "interval" and by_config["amount"]["kappa"] is None
    assert by_config["code"]["raters"] == 4 and by_config["code"]["items"] == 11  # unit 12 has one rating


def test_cohens_kappa_textbook_example(project, member):
    # Two readers, 50 proposals: yes/yes 20, yes/no 5, no/yes 10, no/no 15 → po 0.7, pe 0.5, kappa 0.4
    # (the worked example of Cohen's kappa in most textbooks and on Wikipedia).
    config = score_config_create(project=project, name="accept", kind="boolean")
    queue, items, (a, b) = _queue_with(project, member, [config], 50, 2, reviewers_per_item=2)
    pairs = [(True, True)] * 20 + [(True, False)] * 5 + [(False, True)] * 10 + [(False, False)] * 15
    for item, (va, vb) in zip(items, pairs, strict=True):
        review_item_submit(item=item, user=a, scores={"accept": va})
        review_item_submit(item=item, user=b, scores={"accept": vb})
    # A score given outside the queue (on the trace page) by someone else does not count.
    from apps.reviews.services.annotations import annotations_submit

    annotations_submit(span=items[0].span, user=member(project), scores={"accept": False})
    (row,) = analytics.queue_agreement(queue)
    assert row["kappa"] == pytest.approx(0.4) and row["kappa_kind"] == "Cohen"
    assert row["items"] == 50 and row["raters"] == 2
    # Krippendorff's alpha on the same table (nominal, two coders, no missing data) is 0.4 corrected
    # for small samples: 1 - (n-1) * D_o / D_e with n = 100 values.
    d_o = 15 / 50
    p_yes = (25 + 30) / 100
    d_e = 2 * p_yes * (1 - p_yes) * 100 / 99
    assert row["alpha"] == pytest.approx(1 - d_o / d_e)
    counts = {r["label"]: r["count"] for r in analytics.score_distribution(queue, config)["chart"]["rows"]}
    assert counts == {"yes": 25 + 30, "no": 25 + 20}  # both raters; the outside score is left out
    queue.refresh_from_db()
    assert queue.complete_count == 50


def test_agreement_needs_two_reviewers_and_varied_values(project, member):
    config = score_config_create(project=project, name="ok", kind="boolean")
    queue, items, (a, b) = _queue_with(project, member, [config], 3, 2, reviewers_per_item=2)
    review_item_submit(item=items[0], user=a, scores={"ok": True})
    (row,) = analytics.queue_agreement(queue)
    assert row["items"] == 0 and row["kappa"] is None and row["alpha"] is None
    for item in items:
        review_item_submit(item=item, user=a, scores={"ok": True})
        review_item_submit(item=item, user=b, scores={"ok": True})
    (row,) = analytics.queue_agreement(queue)
    assert row["items"] == 3 and row["alpha"] is None  # one value everywhere: alpha is 0/0


def test_krippendorff_alpha_matches_the_published_example_and_identical_raters_agree_fully():
    matrix = [[math.nan if v is None else v for v in row] for row in KRIPPENDORFF_2011]
    assert round(analytics.krippendorff_alpha(matrix, "nominal"), 3) == 0.743
    assert analytics.cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == 1.0


def test_distribution_histogram_for_continuous(project, member):
    config = score_config_create(project=project, name="q", kind="continuous", min_value=0, max_value=10)
    queue, items, (a,) = _queue_with(project, member, [config], 3, 1, reviewers_per_item=1)
    for item, value in zip(items, [0, 9.5, 10], strict=True):
        review_item_submit(item=item, user=a, scores={"q": value})
    dist = analytics.score_distribution(queue, config)
    counts = [r["count"] for r in dist["chart"]["rows"]]
    assert counts == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2] and dist["total"] == 3
