"""Admin pages at 1440x900 in the light and dark themes, in headless Chromium: nothing covers a
button (elementFromPoint at each button's centre), nothing runs off the page, the changelists show
their last column, and the custom pages' badges and counts stay readable in both themes."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from apps.queues.models import ReviewQueue
from apps.traces.models import Trace
from tests.browser import logged_in_page
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORT = {"width": 1440, "height": 900}

# Each visible button or link-button is scrolled to the centre and must be the element found there.
COVERED_BUTTONS = """() => {
  const sel = '#content a.button, #content button, #content input[type=submit], #content .object-tools a,'
    + ' #content [data-dashboard-queues] td a, #content-related a';
  const covered = [];
  let checked = 0;
  for (const el of document.querySelectorAll(sel)) {
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    el.scrollIntoView({block: 'center', inline: 'center'});
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    checked += 1;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!(hit && (hit === el || el.contains(hit)))) {
      covered.push((el.textContent || el.value || el.outerHTML).trim().slice(0, 40) + ' under '
        + (hit ? hit.tagName + '#' + hit.id + '.' + hit.className : 'nothing'));
    }
  }
  window.scrollTo(0, 0);
  return {checked, covered, width: document.documentElement.scrollWidth};
}"""

# WCAG contrast of text against the first opaque background behind it, for the given selectors.
LOW_CONTRAST = """(selectors) => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = rgb(getComputedStyle(node).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return rgb(getComputedStyle(document.body).backgroundColor);
  };
  const low = [];
  let checked = 0;
  for (const el of document.querySelectorAll(selectors)) {
    if (!el.checkVisibility() || !el.textContent.trim()) continue;
    checked += 1;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(el.className + ' "' + el.textContent.trim().slice(0, 20) + '" ' + ratio.toFixed(2));
  }
  return {checked, low};
}"""

BADGES = (
    ".assay-count, .assay-review-status, .assay-agree, .assay-split, .assay-card-title, .assay-card-preview,"
    " .assay-assign, .assay-span-current, .assay-muted, .export-status, .assay-chip, .assay-type"
)


@pytest.fixture
def site(db):
    call_command("load_demo", traces=30, stdout=open("/dev/null", "w"))
    admin = UserFactory(username="boss", is_superuser=True, is_staff=True)
    trace_type = ContentType.objects.get_for_model(Trace)
    for trace in Trace.objects.order_by("id")[:10]:  # "Recent actions" with long names, as in daily use
        LogEntry.objects.create(
            user=admin,
            content_type=trace_type,
            object_id=str(trace.pk),
            object_repr=f"A long trace name as people write them, number {trace.pk}",
            action_flag=CHANGE,
            change_message="Changed tags.",
        )
    return {"admin": admin, "queue": ReviewQueue.objects.order_by("id").first()}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_dashboard_board_and_review_page_have_no_covered_buttons(browser, live_server, site, scheme, tmp_path):
    page = logged_in_page(browser, live_server, site["admin"], viewport=VIEWPORT, color_scheme=scheme)
    queue = site["queue"]
    pages = {
        "dashboard": "/admin/",
        "board": f"/admin/queues/reviewqueue/{queue.pk}/board/",
        "review": f"/admin/queues/reviewqueue/{queue.pk}/review/",
        "analytics": f"/admin/queues/reviewqueue/{queue.pk}/analytics/",
    }
    for name, url in pages.items():
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") is (scheme == "dark")
        page.screenshot(path=str(tmp_path / f"{name}-{scheme}.png"), full_page=True)
        result = page.evaluate(COVERED_BUTTONS)
        assert result["checked"] > 0 or name == "analytics", name
        assert result["covered"] == [], f"{name} ({scheme}): {result['covered']}"
        assert result["width"] <= VIEWPORT["width"], f"{name} ({scheme}) is {result['width']}px wide"
        contrast = page.evaluate(LOW_CONTRAST, BADGES)
        assert contrast["low"] == [], f"{name} ({scheme}): {contrast['low']}"
    # The dashboard's queue buttons were the ones "Recent actions" used to cover.
    page.goto("/admin/")
    for label in ("Review", "Board", "Analytics"):
        assert page.locator("[data-dashboard-queues]").get_by_role("link", name=label, exact=True).first.is_visible()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_trace_and_export_lists_show_their_last_column_at_1440(browser, live_server, site, scheme):
    page = logged_in_page(browser, live_server, site["admin"], viewport=VIEWPORT, color_scheme=scheme)
    for url in ("/admin/traces/trace/", "/admin/traces/span/", "/admin/exports/exportjob/"):
        page.goto(url)
        fit = page.evaluate("""() => {
          const table = document.querySelector('#result_list');
          const box = table.closest('.results').getBoundingClientRect();
          const last = [...table.querySelectorAll('thead th')].pop().getBoundingClientRect();
          return {last: last.right, box: box.right, rows: table.querySelectorAll('tbody tr').length};
        }""")
        assert fit["rows"] > 0, url
        assert fit["last"] <= fit["box"] + 1, (
            f"{url} ({scheme}): last column ends at {fit['last']}, box at {fit['box']}"
        )
        contrast = page.evaluate(LOW_CONTRAST, BADGES)
        assert contrast["low"] == [], f"{url} ({scheme}): {contrast['low']}"
