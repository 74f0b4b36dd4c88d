"""Adjudication through the service: a lead sets gold values, validated like scores, with history and audit."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.core.exceptions import ApplicationError
from apps.projects.models import Role
from apps.queues.adjudication import item_adjudicate
from apps.queues.gold import item_gold, span_gold
from apps.queues.models import GoldValue, GoldValueRevision

from .gold_world import disputed

pytestmark = pytest.mark.django_db


def _by_config(rows):
    return {r["config"]: r for r in rows}


def test_a_lead_picks_values_and_writes_their_own(project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    item = w.items[0]
    rows = _by_config(
        item_adjudicate(
            actor=w.lead,
            item=item,
            note="policy says 30 days",
            decisions={
                "tone": {"from": w.bob.pk},
                "quality": {"value": 6},
                "correct": {"from": "alice"},
                "notes": {"value": "The refund policy is 30 days."},
            },
            expected={"from": w.alice.pk},
        )
    )
    assert rows["tone"]["value"] == "rude" and rows["tone"]["chosen_from"]["username"] == "bob"
    assert rows["quality"]["value"] == 6.0 and rows["quality"]["chosen_from"] is None
    assert rows["correct"]["value"] is True
    assert rows["expected"]["value"] == {"answer": "30 days"}
    assert {r["decided_by"]["username"] for r in rows.values()} == {"lead"}
    assert {r["note"] for r in rows.values()} == {"policy says 30 days"}
    assert AuditEvent.objects.filter(action="adjudication.set", object_id=str(item.pk)).count() == 5
    gold = span_gold([item.span_id])[item.span_id]
    assert gold["scores"] == {"tone": "rude", "quality": 6.0, "correct": True, "notes": "The refund policy is 30 days."}
    assert gold["expected"] == {"answer": "30 days"} and gold["adjudicated"] and gold["by"] == "lead"


def test_history_keeps_every_change_and_a_repeat_writes_nothing(project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    item = w.items[0]
    item_adjudicate(actor=w.lead, item=item, decisions={"tone": {"from": w.alice.pk}})
    item_adjudicate(actor=w.lead, item=item, decisions={"tone": {"from": w.alice.pk}})
    item_adjudicate(actor=w.lead, item=item, decisions={"tone": {"value": "neutral"}}, note="neither")
    item_adjudicate(actor=w.lead, item=item, decisions={"tone": None})
    revisions = list(GoldValueRevision.objects.filter(item=item).order_by("id"))
    assert [(r.label, r.cleared) for r in revisions] == [("kind", False), ("neutral", False), ("neutral", True)]
    assert not GoldValue.objects.filter(item=item).exists()
    assert AuditEvent.objects.filter(action="adjudication.set", object_id=str(item.pk)).count() == 3


def test_values_are_validated_like_scores_and_nothing_is_half_written(project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    item = w.items[0]
    with pytest.raises(ApplicationError) as exc:
        item_adjudicate(
            actor=w.lead,
            item=item,
            decisions={
                "tone": {"value": "furious"},
                "quality": {"value": 11},
                "correct": {"from": w.lead.pk},
                "missing": {"value": 1},
                "notes": {"value": "fine"},
                "tone2": "x",
            },
            expected={"value": None},
        )
    assert set(exc.value.fields) == {
        "scores.tone",
        "scores.quality",
        "scores.correct",
        "scores.missing",
        "scores.tone2",
        "expected",
    }
    assert not GoldValue.objects.exists()
    with pytest.raises(ApplicationError) as exc:  # item 2: nobody wrote a correction
        item_adjudicate(actor=w.lead, item=w.items[2], expected={"from": w.alice.pk})
    assert "wrote no correction" in exc.value.fields["expected"][0]
    with pytest.raises(ApplicationError):
        item_adjudicate(actor=w.lead, item=item)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER])
def test_below_curator_is_refused(project, configs, make_queue, member, role):
    w = disputed(project, configs, make_queue, member)
    user = w.alice if role == Role.REVIEWER else member(project, role, "watcher")
    with pytest.raises(ApplicationError) as exc:
        item_adjudicate(actor=user, item=w.items[0], decisions={"tone": {"from": w.bob.pk}})
    assert exc.value.status == 403 and "curator" in exc.value.message
    assert not GoldValue.objects.exists()


def test_a_lead_of_another_project_is_refused(project, other_project, configs, make_queue, member):
    w = disputed(project, configs, make_queue, member)
    stranger = member(other_project, Role.ADMIN, "stranger")
    with pytest.raises(ApplicationError) as exc:
        item_adjudicate(actor=stranger, item=w.items[0], decisions={"tone": {"from": w.bob.pk}})
    assert exc.value.status == 403
    assert item_gold(w.items[0]) == []
