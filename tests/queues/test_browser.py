"""The review page, two reviewers at once and the kanban board, in headless Chromium."""

from __future__ import annotations

import re

import pytest

from apps.queues.models import ItemStatus, ReviewItem
from apps.reviews.models import Comment, Score
from tests.browser import logged_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_ready(page):
    page.wait_for_function("() => window.AssayAnnotationPanel && document.querySelector('[data-score-index]')")


def test_reviewer_scores_three_items_with_the_keyboard_only(browser, live_server, project, make_queue, member):
    from apps.views.demo import load_demo_views

    load_demo_views(project=project)  # a default trace view, which may embed its own score controls
    queue = make_queue(3)
    reviewer = member(project)
    page = logged_in_page(browser, live_server, reviewer)
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/")
    seen = []
    for i in range(3):
        page.wait_for_url(re.compile(r"/review/\d+/$"))
        wait_ready(page)
        seen.append(int(page.url.rstrip("/").rsplit("/", 1)[1]))
        if i == 0:
            page.keyboard.press("?")
            assert page.locator("[data-review-help]").is_visible()
            page.keyboard.press("Escape")
        page.keyboard.press("1")            # correct: yes
        page.keyboard.press("ArrowDown")    # → quality (slider)
        page.keyboard.press("]")
        page.keyboard.press("]")            # +10%
        page.keyboard.press("[")            # −5%
        page.keyboard.press("ArrowDown")    # → tone
        page.keyboard.press("3")            # kind
        page.keyboard.press("c")
        page.keyboard.type(f"note {i}")
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        page.wait_for_url(lambda url, before=page.url: url != before)
    page.wait_for_selector("[data-review-done]")
    assert len(set(seen)) == 3
    items = ReviewItem.objects.filter(queue=queue)
    assert all(i.status == ItemStatus.COMPLETE for i in items)
    for item in items:
        scores = {s.config.name: s for s in Score.objects.filter(span=item.span, author=reviewer).select_related("config")}
        assert scores["correct"].value == 1.0
        assert scores["tone"].label == "kind"
        assert scores["quality"].value == pytest.approx(0.5)  # 5% of 0–10
    assert sorted(Comment.objects.filter(author=reviewer).values_list("text", flat=True)) == ["note 0", "note 1", "note 2"]
    # k goes back to the last item reviewed.
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/{seen[-1]}/")
    wait_ready(page)
    page.keyboard.press("k")
    page.wait_for_url(re.compile(rf"/review/{seen[-2]}/$"))


def test_two_reviewers_get_different_items(browser, live_server, project, make_queue, member):
    queue = make_queue(4)
    pages = [logged_in_page(browser, live_server, member(project)) for _ in range(2)]
    for page in pages:
        page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/")
    ids = []
    for page in pages:
        page.wait_for_url(re.compile(r"/review/\d+/$"))
        ids.append(int(page.url.rstrip("/").rsplit("/", 1)[1]))
    assert ids[0] != ids[1]
    reserved = dict(ReviewItem.objects.filter(queue=queue, reserved_by__isnull=False).values_list("pk", "reserved_by"))
    assert set(reserved) == set(ids) and len(set(reserved.values())) == 2
    # The second reviewer opening the first's item sees it read-only.
    pages[1].goto(f"/admin/queues/reviewqueue/{queue.pk}/review/{ids[0]}/")
    assert "read-only for you" in pages[1].locator("[data-review-message]").inner_text()


def test_cards_move_on_the_board_by_keyboard_and_drag(browser, live_server, project, make_queue, member):
    queue = make_queue(3)
    page = logged_in_page(browser, live_server, member(project, role="curator"))
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/board/")
    first = queue.items.order_by("id").first()
    card = page.locator(f'[data-item="{first.pk}"]')
    card.focus()
    page.keyboard.press("Shift+ArrowRight")
    page.locator(f'[data-column="pending"] [data-item="{first.pk}"]').wait_for()
    assert page.locator('[data-column="pending"] [data-count]').inner_text() == "1"
    assert page.locator('[data-column="backlog"] [data-count]').inner_text() == "2"
    assert ReviewItem.objects.get(pk=first.pk).status == ItemStatus.PENDING
    # Complete needs a submission: the server refuses and the card stays.
    page.keyboard.press("Shift+ArrowRight")
    page.wait_for_function("() => document.querySelector('[data-board-message]').textContent.includes('submitted')")
    assert ReviewItem.objects.get(pk=first.pk).status == ItemStatus.PENDING
    # Drag another card from the backlog onto the pending column.
    second = queue.items.order_by("id")[1]
    page.drag_and_drop(f'[data-item="{second.pk}"]', '[data-column="pending"]')
    page.locator(f'[data-column="pending"] [data-item="{second.pk}"]').wait_for()
    assert ReviewItem.objects.get(pk=second.pk).status == ItemStatus.PENDING
    queue.refresh_from_db()
    assert (queue.backlog_count, queue.pending_count) == (1, 2)
