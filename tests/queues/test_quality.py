"""Reviewer quality (apps/queues/quality.py): gold accuracy and pairwise kappa against values computed by
hand, skip rate and median time; through the API and the analytics page, with who sees what."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.projects.models import Role
from apps.queues import gold_questions, quality
from apps.queues.models import ReviewSubmission
from apps.queues.services.reviewing import review_item_skip, review_item_submit

pytestmark = pytest.mark.django_db

TONE_A = ["rude", "rude", "neutral", "kind", "kind", "neutral"]
TONE_B = ["rude", "neutral", "neutral", "kind", "rude", "neutral"]
TONE_C = ["rude", "neutral", "neutral"]  # c reviews the first three items only
QUALITY_A = [5.5, 7.0, 3.0, 8.0, 2.0, 9.0]
QUALITY_B = [4.0, 6.2, 3.5, 9.5, 2.0, 9.0]


@pytest.fixture
def reviewed(project, make_queue, member):
    """Six items; items 1 and 2 are gold questions (tone rude, quality 5) imported before anyone
    answered; a and b review all six, c the first three; a skips one more item."""
    queue = make_queue(7, reviewers_per_item=3)
    lead = member(project, Role.CURATOR, "lead")
    items = list(queue.items.order_by("id"))
    gold_questions.gold_questions_import(
        queue=queue,
        actor=lead,
        questions=[{"span_id": items[i].span.span_id, "answers": {"tone": "rude", "quality": 5}} for i in (0, 1)],
    )
    a, b, c = member(project, username="a"), member(project, username="b"), member(project, username="c")
    for n, item in enumerate(items[:6]):
        review_item_submit(item=item, user=a, scores={"tone": TONE_A[n], "quality": QUALITY_A[n]})
        review_item_submit(item=item, user=b, scores={"tone": TONE_B[n], "quality": QUALITY_B[n]})
        if n < 3:
            review_item_submit(item=item, user=c, scores={"tone": TONE_C[n]})
    review_item_skip(item=items[6], user=a)
    return {"queue": queue, "items": items, "a": a, "b": b, "c": c, "lead": lead}


def _by_name(data):
    return {r["username"]: r for r in data["reviewers"]}


def test_gold_accuracy_by_hand(reviewed):
    """Known answers on items 1 and 2: tone rude, quality 5 (tolerance 10 % of 0–10 = 1 point).

    tone:    a answers rude, rude      → 2 of 2 = 1.0
             b answers rude, neutral   → 1 of 2 = 0.5
             c answers rude, neutral   → 1 of 2 = 0.5
    quality: a answers 5.5 (|0.5| ≤ 1 ✓), 7.0 (2.0 ✗)  → 1 of 2
             b answers 4.0 (|1.0| ≤ 1 ✓, the edge), 6.2 (1.2 ✗) → 1 of 2
             c gave no quality score → no quality accuracy
    """
    rows = _by_name(quality.queue_quality(reviewed["queue"]))
    gold = {
        name: {g["config"]: (g["correct"], g["answered"], g["accuracy"]) for g in row["gold"]}
        for name, row in rows.items()
    }
    assert gold["a"] == {"tone": (2, 2, 1.0), "quality": (1, 2, 0.5)}
    assert gold["b"] == {"tone": (1, 2, 0.5), "quality": (1, 2, 0.5)}
    assert gold["c"] == {"tone": (1, 2, 0.5)}


def test_pairwise_kappa_by_hand(reviewed):
    """tone, a vs b over six items: agree on 1, 3, 4, 6 → po = 4/6. Marginals a: rude 2, neutral 2,
    kind 2; b: rude 2, neutral 3, kind 1 → pe = (2·2 + 2·3 + 2·1) / 36 = 1/3.
    κ = (2/3 − 1/3) / (1 − 1/3) = 0.5.
    a vs c over items 1–3: a rude, rude, neutral; c rude, neutral, neutral → po = 2/3;
    pe = (2·1 + 1·2) / 9 = 4/9 → κ = (2/9) / (5/9) = 0.4.
    b vs c: identical on items 1–3 → κ = 1.
    quality (continuous: share within 1 point), a vs b: |Δ| = 1.5, 0.8, 0.5, 1.5, 0, 0 → 4 of 6."""
    data = quality.queue_quality(reviewed["queue"])
    by_config = {a["config"]: a for a in data["agreement"]}
    tone = by_config["tone"]
    names = [r["username"] for r in tone["reviewers"]]
    assert names == ["a", "b", "c"] and tone["measure"] == "kappa"
    cell = {(names[i], names[j]): c for i, row in enumerate(tone["matrix"]) for j, c in enumerate(row)}
    assert cell[("a", "b")]["value"] == pytest.approx(0.5) and cell[("a", "b")]["items"] == 6
    assert cell[("b", "a")] == cell[("a", "b")]
    assert cell[("a", "c")]["value"] == pytest.approx(0.4) and cell[("a", "c")]["items"] == 3
    assert cell[("b", "c")]["value"] == pytest.approx(1.0)
    assert cell[("a", "a")] is None
    q = by_config["quality"]
    assert q["measure"] == "match" and [r["username"] for r in q["reviewers"]] == ["a", "b"]
    assert q["matrix"][0][1] == {"value": pytest.approx(4 / 6), "items": 6}


def test_skip_rate_and_counts(reviewed):
    rows = _by_name(quality.queue_quality(reviewed["queue"]))
    assert (rows["a"]["submitted"], rows["a"]["skipped"]) == (6, 1)
    assert rows["a"]["skip_rate"] == pytest.approx(1 / 7)
    assert rows["b"]["skip_rate"] == 0 and rows["c"]["submitted"] == 3


def test_median_time_per_item(reviewed):
    """Median over the timed submissions only (one without a reservation has no time)."""
    a = reviewed["a"]
    subs = list(ReviewSubmission.objects.filter(reviewer=a).order_by("id"))
    for sub, seconds in zip(subs, [30, 90, 60, 600, 45], strict=False):
        ReviewSubmission.objects.filter(pk=sub.pk).update(seconds_open=seconds)
    row = _by_name(quality.queue_quality(reviewed["queue"]))["a"]
    assert row["median_seconds"] == 60 and row["timed"] == 5  # 30 45 60 90 600


def test_drill_down_lists_values_beside_gold(reviewed):
    items = quality.reviewer_items(reviewed["queue"], reviewer_id=reviewed["b"].pk)
    assert [r["item"] for r in items] == [i.pk for i in reversed(reviewed["items"][:6])]
    second = next(r for r in items if r["item"] == reviewed["items"][1].pk)
    assert second["gold_question"] is True
    tone = next(v for v in second["values"] if v["config"] == "tone")
    assert tone == {"config": "tone", "value": "neutral", "gold": "rude", "match": False}
    gold_only = quality.reviewer_items(reviewed["queue"], reviewer_id=reviewed["b"].pk, gold_only=True)
    assert len(gold_only) == 2


def _api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_api_leads_see_everyone_a_reviewer_only_themselves(reviewed, member, project):
    queue, a = reviewed["queue"], reviewed["a"]
    url = f"/api/v1/review-queues/{queue.pk}/reviewers/"
    lead = _api(reviewed["lead"]).get(url).json()
    assert {r["username"] for r in lead["reviewers"]} == {"a", "b", "c"} and lead["agreement"]
    assert lead["reviewers"][0]["gold"]
    mine = _api(a).get(url).json()
    assert [r["username"] for r in mine["reviewers"]] == ["a"] and "agreement" not in mine
    assert "gold" not in mine["reviewers"][0]  # watching accuracy after each item would tell gold questions
    assert mine["reviewers"][0]["skip_rate"] == pytest.approx(1 / 7)
    # Drill-down: their own, without the gold; another reviewer's answers like a missing one.
    own = _api(a).get(f"{url}{a.pk}/")
    assert own.status_code == 200
    assert all(set(v) == {"config", "value"} for row in own.json()["items"] for v in row["values"])
    assert all("gold_question" not in row for row in own.json()["items"])
    other = _api(a).get(f"{url}{reviewed['b'].pk}/")
    missing = _api(a).get(f"{url}999999/")
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()
    led = _api(reviewed["lead"]).get(f"{url}{reviewed['b'].pk}/?gold=1").json()
    assert len(led["items"]) == 2
    assert {v["config"]: v["gold"] for v in led["items"][0]["values"]} == {
        "correct": None,
        "tone": "rude",
        "quality": "5",
    }
    viewer = member(project, Role.VIEWER, "viewer")
    assert _api(viewer).get(url).json() == {"reviewers": [], "tolerance": {"continuous_share_of_range": 0.1}}


def test_api_another_projects_queue_is_missing(reviewed, other_project, member):
    outsider = member(other_project, Role.ADMIN, "outsider")
    for path in ("reviewers/", f"reviewers/{reviewed['a'].pk}/", "gold-questions/"):
        hidden = _api(outsider).get(f"/api/v1/review-queues/{reviewed['queue'].pk}/{path}")
        missing = _api(outsider).get(f"/api/v1/review-queues/999999/{path}")
        assert hidden.status_code == missing.status_code == 404, path


def test_analytics_page_quality_section(reviewed):
    queue = reviewed["queue"]
    client = Client()
    client.force_login(reviewed["lead"])
    html = client.get(reverse("admin:queues_reviewqueue_analytics", args=[queue.pk])).content.decode()
    assert "data-quality-reviewers" in html and 'data-reviewer="c"' in html
    assert 'data-heatmap="tone"' in html and 'data-cell="a|b"' in html and 'data-accuracy-chart="tone"' in html
    assert "style=" not in html.split("data-quality")[1]  # CSP: no inline styles in the section
    client.force_login(reviewed["a"])
    html = client.get(reverse("admin:queues_reviewqueue_analytics", args=[queue.pk])).content.decode()
    assert 'data-reviewer="a"' in html and 'data-reviewer="b"' not in html and "data-heatmap" not in html
    page = reverse("admin:queues_reviewqueue_reviewer", args=[queue.pk])
    assert client.get(f"{page}?id={reviewed['a'].pk}").status_code == 200
    assert client.get(f"{page}?id={reviewed['b'].pk}").status_code == 404
    client.force_login(reviewed["lead"])
    html = client.get(f"{page}?id={reviewed['b'].pk}").content.decode()
    assert "gold: rude" in html and "assay-miss" in html and "assay-match" in html
