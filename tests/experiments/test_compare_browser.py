"""The compare and alignment pages in a real browser, light and dark: readable diffs and tables, no
console errors or CSP violations."""

from __future__ import annotations

import os

import pytest

from apps.projects.models import Role
from apps.reviews.services.score_configs import score_config_create
from tests import factories

from .compare_fixtures import judge, judged_span, scored_pair

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and "favicon" not in (msg.location or {}).get("url", "")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def _shot(page, name: str) -> None:
    folder = os.environ.get("ASSAY_SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_compare_and_alignment_pages_read_in_both_themes(browser, live_server, project, member, scheme):
    from tests.browser import logged_in_page

    config = factories.ScoreConfigFactory(project=project, name="correct")
    a, b = scored_pair(project, config, [0.0, 1.0, 1.0, 0.5], [1.0, 1.0, 0.0, 0.5])
    correct = score_config_create(project=project, name="judged", kind="boolean")
    scorer, version = judge(project, correct)
    alice = member(project, Role.REVIEWER, username="alice")
    for j, h in [(1.0, 1.0), (0.0, 0.0), (1.0, 0.0), (0.0, 0.0), (1.0, 1.0)]:
        judged_span(project, version, j, humans=[(alice, h, "")])
    lead = member(project, Role.ADMIN, username="lead")
    page = logged_in_page(browser, live_server, lead, color_scheme=scheme, viewport={"width": 1400, "height": 900})
    problems = _watch(page)

    page.goto(f"/admin/experiments/experiment/compare/?ids={a.pk},{b.pk}")
    ins = page.locator("[data-diff] ins").first
    colours = ins.evaluate(
        "el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor,"
        " getComputedStyle(document.body).backgroundColor]"
    )
    assert colours[0] != colours[1] and colours[1] != colours[2]
    _shot(page, f"compare-{scheme}")
    page.locator("[data-summary] a", has_text="regressed").first.click()
    assert page.locator("[data-records] tr[data-record]").count() == 1

    page.goto(f"/admin/experiments/experiment/alignment/{scorer.pk}/")
    assert page.locator("[data-agreement]").first.is_visible()
    cell = page.locator("[data-confusion] .assay-diagonal").first
    assert cell.evaluate("el => getComputedStyle(el).color") != cell.evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )
    _shot(page, f"alignment-{scheme}")
    assert problems == []
