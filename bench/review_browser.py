"""Review in the browser: one step of the one-page review loop vs loading a bare admin page (PostgreSQL).

    .venv/bin/python bench/review_browser.py     # BENCH_DATABASE_URL, default .../assay_review_browser_bench

1. (Re)creates the database in BENCH_DATABASE_URL, migrates it and seeds a project with a queue of
   chat spans scored with four configs (boolean, categorical, continuous, text).
2. Starts Django's live server (threaded, static files served) and headless Chromium (CHROMIUM, default
   /usr/bin/chromium), signed in as a reviewer.
3. The reviewer scores N items (default 30) keyboard-only: `1`, ↓, `7`, ↓, `3`, then Ctrl+Enter. A step is
   the time from the submit key (taken in the page, at keydown) to the next item fully shown (its id and
   HTML in the page, no longer dimmed, checked every animation frame). The page shows the prefetched
   item at once, and it takes keys at once ("until the next item takes keys" is printed too); the one
   request that saves the item and reserves the next is answered behind it (Submit / Skip wait for
   it), and that time is printed as well. After each step a second tab loads the
   admin's password-change page (a bare admin page) and its navigation time (start to load event) is
   taken, so other load on the machine hits both alike.

Prints the medians and p90s, then the last line `review_step_vs_admin_page=<median step / median page>
p90=<p90 step / median page>` (target: both at most 0.5). BENCH_TRACE=1 prints each step's last requests
(path, start relative to the submit key, duration in ms).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/assay_review_browser_bench"

# Set before review.js: the keydown of the submit key, in the page's clock, and (by a MutationObserver, which
# runs whether or not the page paints: polling by animation frame showed the confirmation ~0.5 s late in
# headless Chromium, when the page had nothing to paint) the moment the save and the next item's
# reservation are answered (`data-review-saving` back to false).
MARK_SUBMIT = """
window.addEventListener("keydown", function (event) {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) window.__assaySubmitAt = performance.now();
}, true);
new MutationObserver(function (records) {
  records.forEach(function (r) {
    if (r.target.getAttribute(r.attributeName) === "false" && !window.__assaySavedAt) window.__assaySavedAt = performance.now();
  });
}).observe(document, {attributes: true, subtree: true, attributeFilter: ["data-review-saving"]});
"""
SHOWN = """(before) => {
  const el = document.querySelector('[data-review-item-id]');
  if (!el || Number(el.dataset.reviewItemId) === before) return false;
  if (document.documentElement.classList.contains('assay-review-swapping')) return false;
  if (!window.__assayShownAt) window.__assayShownAt = performance.now();
  if (document.querySelector('[data-review-item]').getAttribute('aria-busy') !== 'false') return false;
  if (!window.__assayReadyAt) window.__assayReadyAt = performance.now();
  return !!window.__assaySavedAt;
}"""


def seed(items: int) -> dict:
    from django.contrib.auth import get_user_model

    from apps.projects.models import Role
    from apps.projects.services import membership_set, project_create
    from apps.queues.services.filling import review_items_add
    from apps.queues.services.queues import review_queue_create
    from apps.reviews.services.score_configs import score_config_create
    from apps.traces.models import Span
    from apps.traces.services import span_batch_ingest

    project = project_create(slug="browser-bench", name="browser bench")
    reviewer = get_user_model().objects.create_user(username="bench-reviewer", password="x", is_staff=True)
    membership_set(project=project, user=reviewer, role=Role.REVIEWER)
    configs = [
        score_config_create(project=project, name="correct", kind="boolean"),
        score_config_create(project=project, name="quality", kind="continuous", min_value=0, max_value=10),
        score_config_create(
            project=project,
            name="tone",
            kind="categorical",
            options=[{"label": "rude", "value": 0}, {"label": "neutral", "value": 1}, {"label": "kind", "value": 2}],
        ),
        score_config_create(project=project, name="why", kind="text"),
    ]
    batch = []
    for i in range(items + 5):
        trace = f"bench-chat-{i}"
        batch.append(
            {
                "trace_id": trace,
                "span_id": f"{trace}-root",
                "name": "support-chat",
                "type": "llm",
                "start_time": 1_700_000_000 + i,
                "end_time": 1_700_000_001 + i,
                "input": [
                    {"role": "system", "content": "You are a helpful support agent."},
                    {"role": "user", "content": f"Where is my parcel number {i}? It was due last week."},
                ],
                "output": {"role": "assistant", "content": "Your parcel is on its way and arrives tomorrow."},
                "metadata": {"model": "gpt-4o-mini"},
            }
        )
        for step in range(3):
            batch.append(
                {
                    "trace_id": trace,
                    "span_id": f"{trace}-tool-{step}",
                    "parent_span_id": f"{trace}-root",
                    "name": f"lookup-{step}",
                    "type": "tool",
                    "start_time": 1_700_000_000 + i,
                    "input": {"parcel": i},
                    "output": {"status": "in transit"},
                }
            )
    span_batch_ingest(project=project, items=batch)
    queue = review_queue_create(project=project, name="browser bench", score_configs=configs)
    review_items_add(queue=queue, spans=Span.objects.filter(project=project, parent_span_id=""))
    return {"queue": queue, "reviewer": reviewer}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=30)
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB)
    if not url.startswith("postgres"):
        sys.exit("bench/review_browser.py needs PostgreSQL (BENCH_DATABASE_URL).")
    from review import recreate_database, setup_django

    recreate_database(url)
    setup_django(url)
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # the live server thread beside Playwright's loop
    from django.conf import settings
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.test import Client
    from django.test.testcases import LiveServerThread
    from playwright.sync_api import sync_playwright

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost", "127.0.0.1"]
    ctx = seed(args.items)
    server = LiveServerThread("localhost", StaticFilesHandler, connections_override={}, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    base = f"http://localhost:{server.port}"
    client = Client()
    client.force_login(ctx["reviewer"])
    cookie = {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": base,
    }
    steps: list[float] = []  # submit key → next item on screen
    ready: list[float] = []  # submit key → the next item takes keys (not dimmed, aria-busy false)
    saved: list[float] = []  # submit key → the save and the next item's reservation answered (Submit/Skip accepted)
    pages: list[float] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"),
                headless=True,
                args=["--no-sandbox", "--disable-gpu"],
            )
            context = browser.new_context(base_url=base, viewport={"width": 1440, "height": 900})
            context.add_cookies([cookie])
            context.add_init_script(MARK_SUBMIT)
            page = context.new_page()
            other = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"/admin/queues/reviewqueue/{ctx['queue'].pk}/review/")
            page.wait_for_function("() => window.AssayAnnotationPanel && document.querySelector('[data-score-index]')")
            other.goto("/admin/password_change/")  # warm both pages' caches alike
            for _ in range(args.items):
                before = int(page.locator("[data-review-item-id]").get_attribute("data-review-item-id"))
                page.wait_for_timeout(300)  # a reviewer reads; the next item is prefetched meanwhile
                for key in ("1", "ArrowDown", "7", "ArrowDown", "3"):
                    page.keyboard.press(key)
                page.evaluate(
                    "() => { window.__assaySubmitAt = null; window.__assayShownAt = null;"
                    " window.__assayReadyAt = null; window.__assaySavedAt = null; }"
                )
                page.keyboard.press("Control+Enter")
                page.wait_for_function(SHOWN, arg=before, polling="raf")
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")
                steps.append(page.evaluate("() => window.__assayShownAt - window.__assaySubmitAt"))
                ready.append(page.evaluate("() => window.__assayReadyAt - window.__assaySubmitAt"))
                saved.append(page.evaluate("() => window.__assaySavedAt - window.__assaySubmitAt"))
                if os.environ.get("BENCH_TRACE"):
                    print(
                        page.evaluate(
                            "() => performance.getEntriesByType('resource').slice(-4).map(e => "
                            "[e.name.split('/review/')[1], Math.round(e.startTime - window.__assaySubmitAt), "
                            "Math.round(e.duration)])"
                        ),
                        steps[-1],
                        flush=True,
                    )
                other.goto("/admin/password_change/", wait_until="load")
                pages.append(
                    other.evaluate(
                        "() => { const n = performance.getEntriesByType('navigation')[0];"
                        " return n.loadEventEnd - n.startTime; }"
                    )
                )
            browser.close()
    finally:
        server.terminate()
    step_median, step_p90 = statistics.median(steps), percentile(steps, 0.9)
    page_median, page_p90 = statistics.median(pages), percentile(pages, 0.9)
    print(
        f"review step (submit key to next item shown): median {step_median:.1f} ms, p90 {step_p90:.1f} ms "
        f"over {len(steps)} items",
        flush=True,
    )
    print(
        f"review step until the next item takes keys: median "
        f"{statistics.median(ready):.1f} ms, p90 {percentile(ready, 0.9):.1f} ms",
        flush=True,
    )
    print(
        f"review step until the save and the next item's reservation are answered (one request): median "
        f"{statistics.median(saved):.1f} ms, p90 {percentile(saved, 0.9):.1f} ms",
        flush=True,
    )
    print(f"admin page load (password change): median {page_median:.1f} ms, p90 {page_p90:.1f} ms", flush=True)
    print(f"review_step_vs_admin_page={step_median / page_median:.2f} p90={step_p90 / page_median:.2f}")


if __name__ == "__main__":
    main()
