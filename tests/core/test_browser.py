"""Headless Chromium under the admin's CSP: the busiest admin pages, the API docs and the sign-in page
load and work with no CSP violation and no script error."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from apps.datasets.models import Dataset
from apps.queues.models import ReviewQueue
from apps.traces.models import Span, Trace
from apps.views.models import TraceView
from tests.browser import logged_in_page, login_through_form
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + (e.blockedURI || "inline")));
"""


def watch(page) -> list[str]:
    """Console CSP reports and uncaught script errors of `page`, as they happen."""
    problems: list[str] = []
    page.context.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda error: problems.append(f"pageerror: {error}"))
    return problems


def visit(page, path: str, problems: list[str]) -> None:
    response = page.goto(path)
    assert response.status == 200, path
    assert "script-src 'self'" in response.headers["content-security-policy"], path
    page.wait_for_load_state("networkidle")
    violations = page.evaluate("() => window.__csp")
    assert violations == [], (path, violations)
    assert problems == [], (path, problems)


@pytest.fixture
def demo(transactional_db):
    call_command("load_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_admin_pages_work_under_the_csp(browser, live_server, demo):
    page = logged_in_page(browser, live_server, UserFactory(username="root", is_superuser=True, is_staff=True))
    problems = watch(page)
    trace = Trace.objects.order_by("pk").first()
    span = Span.objects.filter(trace=trace).order_by("pk").first()
    queue = ReviewQueue.objects.order_by("pk").first()
    dataset = Dataset.objects.order_by("pk").first()
    view = TraceView.objects.order_by("pk").first()
    view_trace = Trace.objects.filter(project=view.project).order_by("pk").first()
    for path in (
        "/admin/",
        "/admin/traces/trace/",
        f"/admin/traces/trace/{trace.pk}/change/",
        f"/admin/traces/span/{span.pk}/change/",
        f"/admin/queues/reviewqueue/{queue.pk}/board/",
        f"/admin/queues/reviewqueue/{queue.pk}/analytics/",
        f"/admin/queues/reviewqueue/{queue.pk}/review/",
        f"/admin/datasets/dataset/{dataset.pk}/records/",
        f"/admin/views/traceview/{view.pk}/editor/",
        f"/admin/views/traceview/{view.pk}/trace/{view_trace.trace_id}/",
        "/admin/reviews/scoreconfig/",
        "/admin/exports/exportjob/new/",
    ):
        visit(page, path, problems)


def test_moved_inline_scripts_still_work(browser, live_server, demo):
    page = logged_in_page(browser, live_server, UserFactory(username="root", is_superuser=True, is_staff=True))
    problems = watch(page)

    # django-import-export's "Select all" (its inline onchange handler, now bound from a static file).
    visit(page, "/admin/reviews/scoreconfig/export/", problems)
    boxes = page.locator('.selectable-field-export-row input[type="checkbox"]')
    assert boxes.count() > 1
    page.locator("input.select-toggle").first.uncheck()
    assert all(not boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.locator("input.select-toggle").first.check()
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))

    # django-celery-beat's crontab translation under the field (its inline script, now a static file).
    task = PeriodicTask.objects.exclude(crontab=None).order_by("pk").first()
    assert task is not None
    visit(page, f"/admin/django_celery_beat/periodictask/{task.pk}/change/", problems)
    assert page.locator(".field-crontab_translation").is_hidden()
    options = page.locator("#id_crontab option")
    page.select_option("#id_crontab", options.nth(options.count() - 1).get_attribute("value"))
    assert "Translation:" in page.locator(".field-crontab .help").inner_text()
    assert problems == []


def test_sign_in_and_api_docs_work_under_the_csp(browser, live_server, transactional_db):
    user = UserFactory(username="ada", is_staff=True, is_superuser=True)
    user.set_password("pw")
    user.save()
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    problems = watch(page)
    visit(page, "/admin/login/", problems)
    login_through_form(page, live_server, "ada", "pw")
    assert problems == []
    visit(page, "/api/docs/", problems)
    page.locator(".swagger-ui .opblock").first.wait_for()
    assert page.locator(".swagger-ui .opblock").count() > 20
    assert problems == []
