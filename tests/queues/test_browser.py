"""The review page, two reviewers at once and the kanban board, in headless Chromium."""

from __future__ import annotations

import re

import pytest

from apps.queues.models import ItemStatus, ReviewItem
from apps.reviews.models import Comment, Score
from tests.browser import logged_in_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def wait_ready(page):
    page.wait_for_function(
        "() => window.AssayAnnotationPanel && window.AssayHttp && document.querySelector('[data-score-index]')"
    )


def shown_item(page) -> int:
    return int(page.locator("[data-review-item-id]").get_attribute("data-review-item-id"))


def wait_swapped(page, before: int) -> None:
    page.wait_for_function(
        "(before) => { const el = document.querySelector('[data-review-item-id]');"
        " return el && Number(el.dataset.reviewItemId) !== before"
        " && !document.documentElement.classList.contains('assay-review-swapping')"
        " && document.querySelector('[data-review-item]').getAttribute('aria-busy') === 'false'; }",
        arg=before,
    )


def chat_queue(make_queue, project, n):
    from apps.reviews.services.score_configs import score_config_create

    queue = make_queue(n)
    queue.score_configs.add(score_config_create(project=project, name="why", kind="text"))
    for i, item in enumerate(queue.items.order_by("id").select_related("span")):
        item.span.input = [{"role": "user", "content": f"Question {i}"}]
        item.span.output = {"role": "assistant", "content": f"Answer {i}"}
        item.span.save()
    return queue


def test_reviewer_scores_ten_items_keyboard_only_on_one_page(browser, live_server, project, make_queue, member):
    from apps.queues.models import ReviewSkip, ReviewSubmission

    queue = chat_queue(make_queue, project, 10)
    reviewer = member(project)
    page = logged_in_page(browser, live_server, reviewer)
    loads = []
    page.on("load", lambda _page: loads.append(page.url))
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/")
    page.wait_for_url(re.compile(r"/review/\d+/$"))
    wait_ready(page)
    # Each submit (which also reserves the next item and brings the one after it) is held back while keys
    # are sent. On even items the next one was prefetched: it is on screen at once and takes keys at once,
    # while Skip waits for the save. Before odd items the prefetch is taken away (the submit is sent on
    # without `prefetch=1` and the page's own peek is refused), so the swap waits for the held submit: keys
    # sent then are swallowed and none reaches the item that arrives.
    held, peeked, refuse_peek = [], [], [False]
    page.route(re.compile(r"/review/\d+/submit/"), lambda route: held.append(route))

    def on_peek(route):
        if refuse_peek[0]:
            route.abort()
        else:
            route.continue_()

    page.route(re.compile(r"/review/peek/"), on_peek)
    page.on("requestfinished", lambda req: peeked.append(req.url) if "/review/peek/" in req.url else None)
    seen = []
    for i in range(10):
        item_id = shown_item(page)
        assert page.url.endswith(f"/review/{item_id}/")  # the URL follows the item
        seen.append(item_id)
        # The arriving item got none of the keys sent during the swap.
        assert page.locator("[data-comment]").input_value() == ""
        assert page.locator('[data-score-config="correct"] [aria-pressed="true"]').count() == 0
        prefetched = i % 2 == 0
        if i == 0:
            for _ in range(1500):  # the page's first prefetch has arrived (later ones come with each submit)
                if any(url.endswith(f"exclude={item_id}") for url in peeked):
                    break
                page.wait_for_timeout(10)
        if i == 0:
            page.keyboard.press("?")
            assert page.locator("[data-review-help]").is_visible()
            help_text = page.locator("[data-review-help]").inner_text()
            for key in ("Ctrl", "s", "j", "k", "0", "w", "e", "f", "c", "t", "m", "r", "?"):
                assert key in help_text
            page.keyboard.press("Escape")
        page.keyboard.press("1")  # correct: yes
        page.keyboard.press("ArrowDown")  # → quality (slider, 0–10)
        if i == 0:
            page.keyboard.type("75")  # an exact percent
        else:
            page.keyboard.press("7")  # 70 %
        page.keyboard.press("ArrowDown")  # → tone
        page.keyboard.press("3")  # kind
        page.keyboard.press("w")  # the text score, by one key
        page.keyboard.type(f"because {i}")
        page.keyboard.press("Escape")
        if i == 2:
            page.keyboard.press("e")  # Expected: the assistant's text, not the JSON
            assert page.locator("[data-expected]").input_value() == "Answer 2"
            assert page.locator("[data-expected-mode]").input_value() == "text"
            page.keyboard.press("Control+a")
            page.keyboard.type("Fixed answer")
            page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
        for _ in range(1500):
            if held:
                break
            page.wait_for_timeout(10)
        assert held, page.locator("[data-review-alert]").inner_text()
        if i == 9:
            held.pop().continue_()
            break
        if prefetched:
            # The next item is shown while its save is under way, and takes keys at once.
            assert shown_item(page) != item_id
            assert page.locator("[data-review-item]").get_attribute("aria-busy") == "false"
            correct_yes = page.locator('[data-score-config="correct"] [data-option="true"]')
            page.keyboard.press("1")
            assert correct_yes.get_attribute("aria-pressed") == "true"
            page.keyboard.press("1")  # and off again
            assert correct_yes.get_attribute("aria-pressed") != "true"
            page.keyboard.press("s")  # Skip waits for the save: refused, not queued
            assert "Still saving" in page.locator("[data-review-message]").inner_text()
        else:
            assert shown_item(page) == item_id  # nothing to show until the submit answers
            # Keys during the swap: skip, an option, a comment.
            page.keyboard.press("s")
            page.keyboard.press("1")
            page.keyboard.press("c")
            page.keyboard.type("zz")
        route = held.pop()
        if (i + 1) % 2 == 1:  # no prefetch for the next item: not in this answer, and no peek of its own
            refuse_peek[0] = True
            route.continue_(url=re.sub(r"prefetch=1&?", "", route.request.url))
        else:
            refuse_peek[0] = False
            route.continue_()
        wait_swapped(page, item_id)
        page.wait_for_function(
            "() => location.pathname.endsWith("
            "'/' + document.querySelector('[data-review-item-id]').dataset.reviewItemId + '/')"
        )
    page.wait_for_selector("[data-review-done]")
    page.wait_for_load_state("load")  # the element can be there before the page's load event fires
    assert len(set(seen)) == 10
    assert len(loads) == 2  # the first page and the final "done" page: no load between items
    assert not ReviewSkip.objects.filter(reviewer=reviewer).exists()
    assert ReviewSubmission.objects.filter(reviewer=reviewer).count() == 10
    for n, item_id in enumerate(seen):
        item = ReviewItem.objects.get(pk=item_id)
        assert item.status == ItemStatus.COMPLETE
        scores = {
            s.config.name: s for s in Score.objects.filter(span=item.span, author=reviewer).select_related("config")
        }
        assert scores["correct"].value == 1.0
        assert scores["tone"].label == "kind"
        assert scores["quality"].value == pytest.approx(7.5 if n == 0 else 7.0)
        assert scores["why"].text == f"because {n}"
    assert ReviewItem.objects.get(pk=seen[2]).span.expected == {"role": "assistant", "content": "Fixed answer"}
    assert not Comment.objects.filter(author=reviewer).exists()  # "zz" typed during swaps went nowhere
    # Back, forward and reload follow the URL.
    page.unroute(re.compile(r"/review/\d+/submit/"))
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/{seen[-1]}/")
    wait_ready(page)
    page.keyboard.press("k")
    page.wait_for_url(re.compile(rf"/review/{seen[-2]}/$"))
    wait_swapped(page, seen[-1])
    page.go_back()
    page.wait_for_url(re.compile(rf"/review/{seen[-1]}/$"))
    wait_swapped(page, seen[-2])
    page.go_forward()
    wait_swapped(page, seen[-1])
    assert shown_item(page) == seen[-2]
    page.reload()
    wait_ready(page)
    assert shown_item(page) == seen[-2]


def test_expected_keeps_one_text_or_json_choice_per_queue(browser, live_server, project, make_queue, member):
    queue = chat_queue(make_queue, project, 2)
    page = logged_in_page(browser, live_server, member(project))
    page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/")
    page.wait_for_url(re.compile(r"/review/\d+/$"))
    wait_ready(page)
    page.keyboard.press("f")  # → JSON, remembered for this queue
    assert page.locator("[data-expected-mode]").input_value() == "json"
    assert '"role": "assistant"' in page.locator("[data-expected]").input_value()
    first = shown_item(page)
    page.keyboard.press("Control+Enter")
    wait_swapped(page, first)
    assert page.locator("[data-expected-mode]").input_value() == "json"  # the next item keeps the choice
    page.reload()
    wait_ready(page)
    assert page.locator("[data-expected-mode]").input_value() == "json"


def restarted(server):
    """Start a live server on a port a stopped one just left (Django's own refuses to reuse it)."""
    from django.test.testcases import QuietWSGIRequestHandler

    thread = server.thread

    def create(connections_override=None):
        return thread.server_class(
            (thread.host, thread.port),
            QuietWSGIRequestHandler,
            allow_reuse_address=True,
            connections_override=connections_override,
        )

    thread._create_server = create
    server.start()
    return server


def test_a_failed_save_keeps_the_form_and_can_be_retried(browser, project, make_queue, member):
    from pytest_django.live_server_helper import LiveServer

    from apps.reviews.models import Comment

    queue = make_queue(2)
    reviewer = member(project)
    server = restarted(LiveServer("localhost:0", start=False))
    allowed_hosts = server._live_server_modified_settings
    allowed_hosts.enable()
    port = server.thread.port
    try:
        page = logged_in_page(browser, server, reviewer)
        page.goto(f"/admin/queues/reviewqueue/{queue.pk}/review/")
        page.wait_for_url(re.compile(r"/review/\d+/$"))
        wait_ready(page)
        first = shown_item(page)
        page.keyboard.press("1")
        page.keyboard.press("c")
        page.keyboard.type("kept while the server is away")
        page.keyboard.press("Escape")
        # The server goes away. Its keep-alive connections would still answer, so the browser's network
        # goes too: the save then fails as it does against a stopped server.
        server.stop()
        page.context.set_offline(True)
        page.keyboard.press("Control+Enter")
        alert = page.locator("[data-review-alert]")
        alert.wait_for(state="visible")
        assert alert.get_attribute("aria-live") == "assertive"
        assert "Not saved" in alert.inner_text()
        box = alert.bounding_box()
        assert box is not None and box["y"] < 200  # at the top of the page
        assert page.locator("[data-comment]").input_value() == "kept while the server is away"
        assert (
            page.locator('[data-score-config="correct"] [data-option="true"]').get_attribute("aria-pressed") == "true"
        )
        assert shown_item(page) == first
        server = restarted(LiveServer(f"localhost:{port}", start=False))  # back again, same address
        page.context.set_offline(False)
        page.keyboard.press("r")  # retry
        wait_swapped(page, first)
        assert page.locator("[data-review-alert]").is_hidden()
        assert Comment.objects.get(author=reviewer).text == "kept while the server is away"
        assert Score.objects.get(span=ReviewItem.objects.get(pk=first).span, author=reviewer).value == 1.0
    finally:
        server.stop()
        allowed_hosts.disable()


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
