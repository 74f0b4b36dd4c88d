"""Blind means blind: every read surface that shows a span's annotations asks one selector
(`annotations_visible_to`). Walked as a blind reviewer before and after submitting, and as a lead."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from apps.projects.models import Role
from apps.queues.services.filling import review_items_add
from apps.queues.services.queues import review_queue_create
from apps.queues.services.reviewing import review_item_submit
from apps.reviews.models import Score
from apps.reviews.services.annotations import annotations_submit
from apps.reviews.services.score_configs import score_config_create
from apps.reviews.visibility import annotations_visible_to, visible_annotations_q
from apps.traces.models import SpanTag, Tag
from apps.views.services import share_link_create, trace_view_create
from tests import factories

pytestmark = pytest.mark.django_db

# What the first reviewer wrote: none of it may reach the second before she submits.
ALICE = ["ALICE-NOTE", "ALICE-COMMENT", "alice-tag", "ALICE-EXPECTED", "ALICE-META", "alice_key"]
OUTPUT = "the original answer"


@pytest.fixture
def blind(project, member):
    quality = score_config_create(project=project, name="quality", kind="continuous", min_value=0, max_value=10)
    note = score_config_create(project=project, name="note", kind="text")
    queue = review_queue_create(
        project=project, name="Blind", reviewers_per_item=2, blind=True, score_configs=[quality, note]
    )
    trace = factories.TraceFactory(project=project, trace_id="tr-blind", root_span_id="sp-blind", name="blind")
    span = factories.SpanFactory(trace=trace, span_id="sp-blind", name="answer", input="a question", output=OUTPUT)
    factories.SpanFactory(trace=trace, span_id="sp-child", parent_span_id="sp-blind", name="child")
    ingested = Tag.objects.create(project=project, name="ingested-tag")
    SpanTag.objects.create(span=span, tag=ingested, source="ingest")
    review_items_add(queue=queue, spans=project.spans.filter(pk=span.pk))
    item = queue.items.get()
    alice = member(project, username="alice-first")
    bob = member(project, username="bob-second")
    review_item_submit(
        item=item,
        user=alice,
        scores={"quality": 2, "note": "ALICE-NOTE"},
        comment="ALICE-COMMENT",
        tags=["alice-tag"],
        expected="ALICE-EXPECTED",
        expected_set=True,
        metadata={"alice_key": "ALICE-META"},
    )
    view = trace_view_create(
        project=project,
        name="Fields",
        spec={
            "version": 1,
            "components": [
                {
                    "type": "fields",
                    "title": "Annotations",
                    "fields": [
                        {"label": "Expected", "path": "$.expected"},
                        {"label": "Reviewer metadata", "path": "$.annotation_metadata"},
                        {"label": "Tags", "path": "$.tags"},
                    ],
                }
            ],
        },
    )
    _, bob_token = share_link_create(view=view, trace=trace, user=bob)
    lead = member(project, role=Role.CURATOR, username="lead-curator")
    _, lead_token = share_link_create(view=view, trace=trace, user=lead)
    return {
        "queue": queue,
        "item": item,
        "span": span,
        "trace": trace,
        "alice": alice,
        "bob": bob,
        "lead": lead,
        "view": view,
        "tokens": {bob.pk: bob_token, lead.pk: lead_token},
    }


def surfaces(b, user) -> dict[str, str]:
    """Every read surface that shows the span's annotations, as `user` gets it (body text)."""
    span, trace, queue, item = b["span"], b["trace"], b["queue"], b["item"]
    api = APIClient()
    api.force_login(user)
    admin = Client()
    admin.force_login(user)
    api_urls = {
        "api trace": f"/api/v1/traces/{trace.trace_id}/",
        "api span": f"/api/v1/spans/{span.span_id}/",
        "api span list": f"/api/v1/spans/?trace_id={trace.trace_id}",
        "api span annotations": f"/api/v1/spans/{span.span_id}/annotations/",
        "api trace annotations": f"/api/v1/traces/{trace.trace_id}/annotations/",
        "api scores": f"/api/v1/scores/?span_id={span.span_id}",
        "api queue items": f"/api/v1/review-queues/{queue.pk}/items/",
        "api queue item": f"/api/v1/review-queues/{queue.pk}/items/{item.pk}/",
        "api trace view render": f"/api/v1/trace-views/{b['view'].pk}/render/?trace={trace.trace_id}",
    }
    admin_urls = {
        "trace page": reverse("admin:traces_trace_change", args=[trace.pk]) + f"?span={span.span_id}",
        "span page": reverse("admin:traces_span_change", args=[span.pk]),
        "annotation panel": reverse("admin:reviews_annotation_panel", args=[span.pk]),
        "review page": reverse("admin:queues_reviewqueue_review_item", args=[queue.pk, item.pk]),
        "board": reverse("admin:queues_reviewqueue_board", args=[queue.pk]),
        "trace view page": reverse("admin:views_traceview_trace", args=[b["view"].pk, trace.trace_id]),
        "score list": reverse("admin:reviews_score_changelist"),
        "score history list": reverse("admin:reviews_scoreevent_changelist"),
        "comment list": reverse("admin:reviews_comment_changelist"),
        "correction list": reverse("admin:reviews_correction_changelist"),
        "tag history list": reverse("admin:reviews_tagevent_changelist"),
        "trace list": reverse("admin:traces_trace_changelist"),
    }
    out = {}
    for name, url in api_urls.items():
        res = api.get(url)
        assert res.status_code == 200, (name, res.status_code)
        out[name] = json.dumps(res.json())
    for name, url in admin_urls.items():
        res = admin.get(url)
        assert res.status_code == 200, (name, res.status_code)
        out[name] = res.content.decode()
    # The trace list's tag filter lists the project's tag names; the rows are what show a trace's tags.
    rows = out["trace list"]
    out["trace list"] = rows[rows.index('id="result_list"') : rows.index("</table>", rows.index('id="result_list"'))]
    if user.pk in b["tokens"]:
        res = Client().get(reverse("views_share:page", args=[b["tokens"][user.pk]]))
        assert res.status_code == 200
        out["share page"] = res.content.decode()
    return out


NOW = "<current expected>"
BOARD_ALICE = "mean 2"  # alice's quality score as the board card summarises it  # surfaces that show only the newest correction (`Span.expected`)
# Where each marker shows for someone who may see everything (so the blind walk is not vacuous).
SHOWN = {
    "api trace": ALICE,
    "api span": ALICE,
    "api span list": ALICE,
    "api span annotations": ALICE,
    "api trace annotations": ALICE,
    "api scores": ["ALICE-NOTE", "alice-first"],
    "api queue item": [NOW, "ALICE-NOTE"],
    "api queue items": ["ALICE-NOTE"],
    "api trace view render": [NOW, "ALICE-META", "alice-tag"],
    "trace page": ALICE,
    "span page": ALICE,
    "annotation panel": ALICE,
    "review page": ["ALICE-NOTE", "ALICE-COMMENT", "alice-tag", "ALICE-EXPECTED"],
    # Board cards summarise (a mean per continuous config, a count of text notes), never quote notes.
    "board": [BOARD_ALICE],
    "trace view page": [NOW, "ALICE-META", "alice-tag"],
    "score list": ["alice-first"],
    "score history list": ["alice-first"],
    "comment list": ["ALICE-COMMENT"],
    "correction list": ["ALICE-EXPECTED"],
    "tag history list": ["alice-tag"],
    "trace list": ["alice-tag"],
    "share page": [NOW, "ALICE-META", "alice-tag"],
}


def leaks(pages: dict[str, str]) -> dict[str, list[str]]:
    # The board's "Reviewed by" filter lists the project's members: a name there is no annotation.
    found = {
        name: [m for m in ALICE + ([BOARD_ALICE] if name == "board" else ["alice-first"]) if m in body]
        for name, body in pages.items()
    }
    return {name: markers for name, markers in found.items() if markers}


def missing(
    pages: dict[str, str], *, expected_now: str = "BOB-EXPECTED", board: str = BOARD_ALICE
) -> dict[str, list[str]]:
    def marker(m: str) -> str:
        return expected_now if m == NOW else board if m == BOARD_ALICE else m

    gone = {name: [m for m in map(marker, SHOWN[name]) if m not in body] for name, body in pages.items()}
    return {name: markers for name, markers in gone.items() if markers}


def test_a_blind_reviewer_sees_only_their_own_until_they_submit_and_a_lead_sees_everything(blind):
    bob, span = blind["bob"], blind["span"]
    before = surfaces(blind, bob)
    assert set(before) == set(SHOWN)
    assert leaks(before) == {}
    # Ingested tags are trace content, not another reviewer's judgement: they stay visible.
    assert "ingested-tag" in before["api span"] and "ingested-tag" in before["span page"]
    # Expected is seeded from the output, never from the other reviewer's correction.
    panel = before["annotation panel"]
    assert OUTPUT in panel and "current expected value" not in panel

    # The reviewer's own work in progress shows everywhere, the other's still does not.
    annotations_submit(
        span=span,
        user=bob,
        comment="BOB-COMMENT",
        expected="BOB-EXPECTED",
        tags=["bob-tag"],
        metadata={"bob_key": "BOB-META"},
        scores={"note": "BOB-NOTE"},
    )
    drafting = surfaces(blind, bob)
    assert leaks(drafting) == {}
    for name in ("api span annotations", "api span", "span page", "annotation panel", "review page"):
        assert "BOB-COMMENT" in drafting[name] and "BOB-EXPECTED" in drafting[name], name
    assert "BOB-META" in drafting["api span"] and "bob-tag" in drafting["trace page"]
    assert json.loads(drafting["api span annotations"])["expected"] == "BOB-EXPECTED"

    lead = surfaces(blind, blind["lead"])
    assert missing(lead) == {}

    review_item_submit(item=blind["item"], user=bob, scores={"quality": 9})
    after = surfaces(blind, bob)
    assert missing(after, board="mean 5.5") == {}  # alice's 2 and bob's 9


def test_the_rule_scopes_to_open_items_of_blind_queues(blind, project, member):
    span, bob = blind["span"], blind["bob"]
    assert annotations_visible_to(bob, [span.pk]).blinded == {span.pk}
    assert not annotations_visible_to(blind["lead"], [span.pk]).blinded
    assert not annotations_visible_to(blind["alice"], [span.pk]).blinded  # she submitted
    visible = Score.objects.filter(span=span).filter(visible_annotations_q(bob))
    assert list(visible) == []
    # Not blind any more: everyone sees everything straight away.
    type(blind["queue"]).objects.filter(pk=blind["queue"].pk).update(blind=False)
    assert not annotations_visible_to(bob, [span.pk]).blinded
    assert Score.objects.filter(span=span).filter(visible_annotations_q(bob)).count() == 2
    # A viewer in another project's blind queue is not affected here, and a superuser never is.
    admin = factories.UserFactory(is_superuser=True)
    assert not annotations_visible_to(admin, [span.pk]).blinded


def filter_matches(b, user) -> dict[str, bool]:
    """Every list filter that could answer on another reviewer's annotations: does it pick the blind item
    (its span, trace or card) for `user`?"""
    span, trace, queue, item = b["span"], b["trace"], b["queue"], b["item"]
    api = APIClient()
    api.force_login(user)
    admin = Client()
    admin.force_login(user)

    def rows(url):
        res = api.get(url)
        assert res.status_code == 200, (url, res.status_code)
        data = res.json()
        return data["results"] if isinstance(data, dict) else data

    def listed(url, obj_url):
        res = admin.get(url)
        assert res.status_code == 200, (url, res.status_code)
        body = res.content.decode()
        start = body.index('id="result_list"') if 'id="result_list"' in body else len(body)
        return obj_url in body[start:]

    span_url = reverse("admin:traces_span_change", args=[span.pk])
    trace_url = reverse("admin:traces_trace_change", args=[trace.pk])
    spans, traces = reverse("admin:traces_span_changelist"), reverse("admin:traces_trace_changelist")
    board = admin.get(reverse("admin:queues_reviewqueue_board", args=[queue.pk]) + f"?reviewer={b['alice'].pk}")
    assert board.status_code == 200
    return {
        "api spans tags": any(r["span_id"] == span.span_id for r in rows("/api/v1/spans/?tags=alice-tag")),
        "api traces tags": any(r["trace_id"] == trace.trace_id for r in rows("/api/v1/traces/?tags=alice-tag")),
        "api spans has_expected": any(
            r["span_id"] == span.span_id for r in rows(f"/api/v1/spans/?has_expected=true&trace_id={trace.trace_id}")
        ),
        "api spans without expected": any(
            r["span_id"] == span.span_id for r in rows(f"/api/v1/spans/?has_expected=false&trace_id={trace.trace_id}")
        ),
        "api scores by value": bool(rows(f"/api/v1/scores/?span_id={span.span_id}&config=quality&value_lte=5")),
        "api traces reviewed": any(
            r["trace_id"] == trace.trace_id for r in rows("/api/v1/traces/?review_status=reviewed")
        ),
        "span list tag": listed(f"{spans}?tag=alice-tag", span_url),
        "span list has expected": listed(f"{spans}?has_expected=yes", span_url),
        "span list without expected": listed(f"{spans}?has_expected=no", span_url),
        "trace list tag": listed(f"{traces}?tag=alice-tag", trace_url),
        "trace list reviewed": listed(f"{traces}?review_status__exact=reviewed", trace_url),
        "board reviewed by alice": f'data-item="{item.pk}"' in board.content.decode(),
    }


# What the filters pick for someone who sees alice's work (a lead, or bob once he has submitted). The
# item is still open (two reviewers each), so "reviewed" picks it for nobody: review status is queue
# state, never another reviewer's annotation.
SEES_ALICE = {
    "api spans tags": True,
    "api traces tags": True,
    "api spans has_expected": True,
    "api spans without expected": False,
    "api scores by value": True,
    "api traces reviewed": False,
    "span list tag": True,
    "span list has expected": True,
    "span list without expected": False,
    "trace list tag": True,
    "trace list reviewed": False,
    "board reviewed by alice": True,
}


def test_list_filters_answer_on_what_a_blind_reviewer_may_see(blind, project, member):
    bob = blind["bob"]
    # Before submitting, bob's filters behave as if alice had written nothing.
    assert filter_matches(blind, bob) == {
        **SEES_ALICE,
        "api spans tags": False,
        "api traces tags": False,
        "api spans has_expected": False,
        "api spans without expected": True,
        "api scores by value": False,
        "span list tag": False,
        "span list has expected": False,
        "span list without expected": True,
        "trace list tag": False,
        "board reviewed by alice": False,
    }
    assert filter_matches(blind, blind["lead"]) == SEES_ALICE
    # His own tag and correction count for him at once.
    annotations_submit(span=blind["span"], user=bob, tags=["bob-tag"], expected="BOB-EXPECTED")
    mine = filter_matches(blind, bob)
    assert mine["api spans has_expected"] and mine["span list has expected"]
    assert not mine["api spans tags"] and not mine["board reviewed by alice"] and not mine["api scores by value"]
    api = APIClient()
    api.force_login(bob)
    assert [r["span_id"] for r in api.get("/api/v1/spans/?tags=bob-tag").json()["results"]] == ["sp-blind"]
    assert [r["span_id"] for r in api.get("/api/v1/spans/?tags=ingested-tag").json()["results"]] == ["sp-blind"]


def test_list_filters_see_everything_once_the_blind_reviewer_submitted(blind):
    review_item_submit(item=blind["item"], user=blind["bob"], scores={"quality": 9})
    seen = filter_matches(blind, blind["bob"])
    # The item is complete now (two reviewers): the trace reads "reviewed".
    assert seen == {**SEES_ALICE, "api traces reviewed": True, "trace list reviewed": True}
