"""The board as a lead runs a team from it, in headless Chromium: assigning by keyboard, "assigned to
me", and the side panel with an item's review."""

from __future__ import annotations

import re

import pytest

from apps.queues.models import ReviewItem
from tests.browser import logged_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def assignee(item) -> str | None:
    item = ReviewItem.objects.select_related("assignee").get(pk=item.pk)
    return item.assignee.username if item.assignee else None


def test_lead_assigns_by_keyboard_filters_to_own_and_opens_the_review_beside_the_board(
    browser, live_server, project, make_queue, member
):
    queue = make_queue(3)
    lead = member(project, role="curator", username="lead")
    member(project, username="alice")
    member(project, username="bob")
    member(project, role="viewer", username="victor")  # may not review: never offered
    first, second, _third = queue.items.order_by("id")
    page = logged_in_page(browser, live_server, lead, viewport={"width": 1440, "height": 900})
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/board/")
    card = page.locator(f'[data-item="{first.pk}"]')
    card.focus()

    # a: the menu opens on the card with the people who may review the queue; type-ahead, Enter.
    page.keyboard.press("a")
    menu = card.locator("[data-assign-menu]")
    menu.wait_for()
    names = menu.locator("[data-assign-to]").all_inner_texts()
    assert names == ["Unassigned", "alice", "bob", "lead (me)"]
    page.keyboard.press("b")
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"() => document.querySelector('[data-item=\"{first.pk}\"] [data-assignee-label]').textContent.includes('bob')"
    )
    assert assignee(first) == "bob"
    assert menu.count() == 0
    assert page.evaluate("document.activeElement.dataset.item") == str(first.pk)  # focus is back on the card

    # Arrow keys inside the menu, Escape closes it without a change.
    page.keyboard.press("a")
    page.keyboard.press("ArrowUp")
    page.keyboard.press("Escape")
    assert card.locator("[data-assign-menu]").count() == 0 and assignee(first) == "bob"

    # m: assign to me; u: unassign.
    page.keyboard.press("m")
    page.wait_for_function(
        f"() => document.querySelector('[data-item=\"{first.pk}\"] [data-assignee-label]').textContent.includes('lead')"
    )
    assert assignee(first) == "lead"
    page.keyboard.press("u")
    page.wait_for_function(
        f"() => document.querySelector('[data-item=\"{first.pk}\"] [data-assignee-label]').textContent === 'Unassigned'"
    )
    assert assignee(first) is None

    # ↓ to the next card, m, then "Assigned to me" shows just that one.
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.dataset.item") == str(second.pk)
    page.keyboard.press("m")
    page.wait_for_function(
        "() => document.querySelector('[data-board-message]').textContent.includes('Assigned to lead')"
    )
    assert assignee(second) == "lead"
    page.get_by_label("Assigned to me").check()
    page.wait_for_url(re.compile(r"mine=1"))
    assert page.locator("[data-item]").count() == 1
    assert page.locator(f'[data-item="{second.pk}"]').count() == 1

    # Enter opens the item's review in the side panel; the board stays; Escape closes it.
    page.locator(f'[data-item="{second.pk}"]').focus()
    page.keyboard.press("Enter")
    panel = page.locator("[data-board-panel]")
    panel.wait_for(state="visible")
    frame = page.frame_locator("[data-board-panel-frame]")
    frame.locator("#content").wait_for()
    assert re.search(rf"/review/{second.pk}/$", page.locator("[data-board-panel-frame]").get_attribute("src"))
    assert "/board/?mine=1" in page.url  # still on the board
    assert page.locator("[data-assay-board]").is_visible()
    # Opening the review reserved the item for the lead: the card follows to "Pending".
    page.locator(f'[data-column="pending"] [data-item="{second.pk}"]').wait_for()
    page.locator(f'[data-item="{second.pk}"]').focus()
    page.keyboard.press("Escape")
    panel.wait_for(state="hidden")
    assert page.evaluate("document.activeElement.dataset.item") == str(second.pk)


def test_a_reviewer_sees_the_board_without_assignment_controls(browser, live_server, project, make_queue, member):
    queue = make_queue(2)
    item = queue.items.order_by("id").first()
    page = logged_in_page(browser, live_server, member(project, username="alice"))
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/board/")
    card = page.locator(f'[data-item="{item.pk}"]')
    card.focus()
    page.keyboard.press("a")
    page.keyboard.press("m")
    assert page.locator("[data-assign-toggle], [data-assign-menu]").count() == 0
    assert assignee(item) is None
