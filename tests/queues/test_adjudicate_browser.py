"""A lead adjudicates three items from the keyboard, in headless Chromium (light and dark admin themes)."""

from __future__ import annotations

import re

import pytest

from apps.queues.models import GoldValue

from .gold_world import build, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def three_disagreements(project, configs, make_queue, member):
    w = build(project, configs, make_queue, member)
    i0, i1, i2 = w.items
    submit(i0, w.alice, {"correct": True, "tone": "kind"})
    submit(i0, w.bob, {"correct": False, "tone": "rude"})
    submit(i1, w.alice, {"quality": 2})
    submit(i1, w.bob, {"quality": 9})
    submit(i2, w.alice, {}, {"answer": "30 days"})
    submit(i2, w.bob, {}, {"answer": "14 days"})
    return w


def wait_ready(page, item_id):
    page.wait_for_url(re.compile(rf"/disagreements/{item_id}/$"))
    page.wait_for_function("() => window.AssayHttp && document.querySelector('tr.assay-gold-focus')")


def focused(page) -> str:
    return page.locator("tr.assay-gold-focus").get_attribute("data-config")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_a_lead_adjudicates_three_items_from_the_keyboard(
    browser, live_server, project, configs, make_queue, member, scheme
):
    from tests.browser import logged_in_page

    w = three_disagreements(project, configs, make_queue, member)
    i0, i1, i2 = w.items
    page = logged_in_page(browser, live_server, w.lead, color_scheme=scheme)
    problems = []
    # Errors and CSP violations; the browser's own favicon request is the one 404 expected.
    page.on(
        "console",
        lambda msg: (
            problems.append(msg.text)
            if msg.type == "error" and "favicon" not in (msg.location or {}).get("url", "")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(str(exc)))

    page.goto(f"/admin/queues/reviewqueue/{w.queue.pk}/disagreements/")
    assert page.locator(f'tr[data-item="{i0.pk}"]').count() == 2  # correct and tone
    page.locator(f'a[href$="/disagreements/{i0.pk}/"]').click()
    wait_ready(page, i0.pk)

    # Item 1: help, then bob's "correct", alice's "tone".
    page.keyboard.press("?")
    assert page.locator("[data-help]").is_visible()
    page.keyboard.press("?")
    assert focused(page) == "correct"  # the first row that differs
    page.keyboard.press("2")
    for _ in range(3):
        page.keyboard.press("j")
    assert focused(page) == "tone"
    page.keyboard.press("1")
    value = page.locator("tr.assay-gold-focus input[type=radio]:checked + .assay-gold-value")
    colours = value.evaluate("el => [getComputedStyle(el).color, getComputedStyle(document.body).backgroundColor]")
    assert colours[0] != colours[1]
    page.keyboard.press("Enter")
    wait_ready(page, i1.pk)

    # Item 2: the lead's own quality, with a note.
    assert focused(page) == "quality"
    page.keyboard.press("o")
    page.keyboard.type("6")
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.keyboard.type("split the difference")
    page.keyboard.press("Escape")
    page.keyboard.press("Enter")
    wait_ready(page, i2.pk)

    # Item 3: move about, then bob's correction as the gold Expected.
    assert focused(page) == "expected"
    page.keyboard.press("k")
    assert focused(page) == "tone"
    page.keyboard.press("j")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/disagreements/\?done=1$"))
    assert "No open disagreement is left" in page.content()

    gold = {
        (g.item_id, g.config.name if g.config else "expected"): g for g in GoldValue.objects.select_related("config")
    }
    assert set(gold) == {(i0.pk, "correct"), (i0.pk, "tone"), (i1.pk, "quality"), (i2.pk, "expected")}
    assert gold[(i0.pk, "correct")].value == 0.0 and gold[(i0.pk, "correct")].chosen_from_id == w.bob.pk
    assert gold[(i0.pk, "tone")].label == "kind" and gold[(i0.pk, "tone")].chosen_from_id == w.alice.pk
    assert gold[(i1.pk, "quality")].value == 6.0 and gold[(i1.pk, "quality")].chosen_from_id is None
    assert gold[(i1.pk, "quality")].note == "split the difference"
    assert gold[(i2.pk, "expected")].expected == {"answer": "14 days"}
    assert {g.decided_by_id for g in gold.values()} == {w.lead.pk}
    assert problems == []  # no script errors, no CSP violations
    page.context.close()
