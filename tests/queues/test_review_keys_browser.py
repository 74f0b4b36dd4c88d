"""The review page's single keys in headless Chromium: `e`, `t`, `m` put the cursor in the expected
answer, the tag input and the metadata key; `j` on an item not yet done says how to move on; `s` skips
to the next item."""

from __future__ import annotations

import re

import pytest

from apps.queues.models import ReviewSkip
from tests.browser import logged_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _focused(page, selector: str) -> bool:
    return page.evaluate("(s) => !!document.activeElement && document.activeElement.matches(s)", selector)


def test_e_t_m_focus_their_fields_j_explains_and_s_skips(browser, live_server, project, make_queue, member):
    queue = make_queue(3)
    reviewer = member(project)
    page = logged_in_page(browser, live_server, reviewer)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/")
    page.wait_for_url(re.compile(r"/review/\d+/$"))
    page.wait_for_function("() => window.AssayAnnotationPanel && document.querySelector('[data-score-index]')")
    first = int(page.locator("[data-review-item-id]").get_attribute("data-review-item-id"))

    for key, selector in (("e", "[data-expected]"), ("t", "[data-tag-input]"), ("m", "[data-meta-key]")):
        assert not _focused(page, selector)
        page.keyboard.press(key)
        assert _focused(page, selector), key
        page.keyboard.press("Escape")  # leaves the field, so the next single key is a command again
        assert not _focused(page, selector)
    # `m` on a panel without metadata rows added one, and the key typed nothing into it.
    assert page.locator("[data-meta-key]").first.input_value() == ""

    page.keyboard.press("j")
    message = page.locator("[data-review-message]")
    message.filter(has_text="skip (s)").wait_for()
    assert int(page.locator("[data-review-item-id]").get_attribute("data-review-item-id")) == first

    page.keyboard.press("s")
    page.wait_for_function(
        "(before) => { const el = document.querySelector('[data-review-item-id]');"
        " return el && Number(el.dataset.reviewItemId) !== before"
        " && document.querySelector('[data-review-item]').getAttribute('aria-busy') === 'false'; }",
        arg=first,
    )
    second = int(page.locator("[data-review-item-id]").get_attribute("data-review-item-id"))
    assert second != first and page.url.endswith(f"/review/{second}/")
    assert ReviewSkip.objects.filter(item_id=first, reviewer=reviewer).exists()
    assert errors == []
