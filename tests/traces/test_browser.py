"""The admin trace page in headless Chromium: collapsible tree, span switching, no script from trace content."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.browser import logged_in_page
from tests.factories import SpanFactory, TraceFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_trace_page_tree_collapses_and_trace_content_never_runs(browser, live_server, project):
    t0 = timezone.now() - timedelta(minutes=1)
    trace = TraceFactory(project=project, trace_id="browser-trace", name="agent", start_time=t0)
    SpanFactory(
        trace=trace,
        span_id="r",
        name="agent",
        type="task",
        start_time=t0,
        output='<img src=x onerror="window.__pwned=1">',
    )
    SpanFactory(
        trace=trace,
        span_id="c1",
        parent_span_id="r",
        name="plan",
        type="llm",
        start_time=t0 + timedelta(seconds=1),
        output="<script>window.__pwned=2; alert(1)</script>",
    )
    SpanFactory(
        trace=trace, span_id="c2", parent_span_id="c1", name="lookup", type="tool", start_time=t0 + timedelta(seconds=2)
    )
    SpanFactory(
        trace=trace, span_id="c3", parent_span_id="r", name="answer", type="llm", start_time=t0 + timedelta(seconds=3)
    )
    admin = UserFactory(username="root", is_superuser=True)
    page = logged_in_page(browser, live_server, admin)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto(f"/admin/traces/trace/{trace.pk}/change/?span=c1")
    output = page.locator("#span-output")
    assert "<script>window.__pwned=2; alert(1)</script>" in output.inner_text()
    rows = page.locator(".assay-tree-row")
    assert rows.count() == 4
    assert "plan" in page.locator(".assay-tree-row.is-selected").inner_text()

    # collapse the root: every descendant hides; expand: they come back
    page.locator(".assay-tree-row[data-depth='0'] .assay-tree-toggle").click()
    assert page.locator(".assay-tree-row:visible").count() == 1
    page.locator(".assay-tree-row[data-depth='0'] .assay-tree-toggle").click()
    assert page.locator(".assay-tree-row:visible").count() == 4
    # collapse "plan" only: its child hides, its sibling stays
    page.locator(".assay-tree-row", has_text="plan").locator(".assay-tree-toggle").click()
    assert page.locator(".assay-tree-row", has_text="lookup").is_hidden()
    assert page.locator(".assay-tree-row", has_text="answer").is_visible()

    # another span through the tree link
    page.locator(".assay-tree-row[data-depth='0'] a").click()
    page.wait_for_url(lambda url: url.endswith("?span=r"))
    assert "<img src=x" in page.locator("#span-output").inner_text()
    assert page.evaluate("() => window.__pwned === undefined")
    assert dialogs == []
