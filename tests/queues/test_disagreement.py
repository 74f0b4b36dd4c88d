"""Disagreement detection per score-config kind (apps/queues/disagreement.py)."""

from __future__ import annotations

import pytest

from apps.queues import disagreement
from apps.queues.models import ReviewQueue

from .gold_world import disputed, submit

pytestmark = pytest.mark.django_db


def _rows(w, item):
    (entry,) = disagreement.item_disagreements(w.queue, [item])
    return {r.name: r for r in entry.rows}


def test_each_kind_disagrees_on_what_differs(project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    rows = _rows(w, w.items[0])
    assert {name for name, r in rows.items() if r.disagree} == {"correct", "tone", "quality", "notes", "expected"}
    assert rows["quality"].spread == 7
    assert rows["tone"].values == {w.alice.pk: "kind", w.bob.pk: "rude"}
    assert rows["expected"].values == {w.alice.pk: {"answer": "30 days"}, w.bob.pk: {"answer": "14 days"}}
    # Item 1: quality 5 vs 5.5 is 5% of the 0-10 range (threshold 10%); text differs only in whitespace.
    assert not any(r.disagree for r in _rows(w, w.items[1]).values())
    # Item 2: only tone was answered by both; unanswered configs never disagree.
    assert {name for name, r in _rows(w, w.items[2]).items() if r.disagree} == {"tone"}


def test_the_queue_threshold_decides_continuous_spread(project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    ReviewQueue.objects.filter(pk=w.queue.pk).update(disagreement_threshold=0.01)
    w.queue.refresh_from_db()
    assert _rows(w, w.items[1])["quality"].disagree  # 0.5 > 1% of 10
    ReviewQueue.objects.filter(pk=w.queue.pk).update(disagreement_threshold=0.8)
    w.queue.refresh_from_db()
    assert not _rows(w, w.items[0])["quality"].disagree  # 7 <= 80% of 10


def test_multi_select_labels_compare_as_sets(project, configs, make_queue, member):
    from apps.reviews.services.score_configs import score_config_create

    topics = score_config_create(
        project=project,
        name="topics",
        kind="categorical",
        multi_select=True,
        options=[{"label": "a", "value": 0}, {"label": "b", "value": 1}],
    )
    w = disputed(project, configs, make_queue, member, n=4)
    w.queue.score_configs.add(topics)
    item = w.items[3]
    submit(item, w.alice, {"topics": ["a", "b"]})
    submit(item, w.bob, {"topics": ["b", "a"]})
    assert not _rows(w, item)["topics"].disagree


def test_list_pages_skip_agreeing_items_and_follow_state(project, configs, make_queue, member):
    from apps.queues.adjudication import item_adjudicate

    w = disputed(project, configs, make_queue, member)
    page, nxt = disagreement.disagreements_for_queue(w.queue)
    assert [e.item.pk for e in page] == [w.items[0].pk, w.items[2].pk] and nxt is None
    first, cursor = disagreement.disagreements_for_queue(w.queue, limit=1)
    assert [e.item.pk for e in first] == [w.items[0].pk] and cursor == w.items[0].pk
    rest, _ = disagreement.disagreements_for_queue(w.queue, after=cursor, limit=1)
    assert [e.item.pk for e in rest] == [w.items[2].pk]
    item_adjudicate(actor=w.lead, item=w.items[2], decisions={"tone": {"from": w.bob.pk}})
    assert [e.item.pk for e in disagreement.disagreements_for_queue(w.queue)[0]] == [w.items[0].pk]
    assert [e.item.pk for e in disagreement.disagreements_for_queue(w.queue, state="adjudicated")[0]] == [w.items[2].pk]
    assert len(disagreement.disagreements_for_queue(w.queue, state="all")[0]) == 2
    assert disagreement.next_open_disagreement(w.queue, after=w.items[0].pk).pk == w.items[0].pk  # wraps round
    counts = disagreement.disagreement_counts(w.queue)
    assert counts == {"scanned": 3, "disagreeing": 2, "open": 1, "adjudicated": 1}


def test_gold_questions_are_not_listed(project, configs, make_queue, member):
    from apps.queues.models import ReviewItem

    w = disputed(project, configs, make_queue, member)
    ReviewItem.objects.filter(pk=w.items[0].pk).update(is_gold_question=True)
    assert [e.item.pk for e in disagreement.disagreements_for_queue(w.queue)[0]] == [w.items[2].pk]
