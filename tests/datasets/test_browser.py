"""Headless Chromium: a curator edits a record inline, restores a version, and watches a job's progress page."""

import threading

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.datasets.models import DatasetJob
from apps.datasets.selectors import dataset_records_at_version
from apps.datasets.services.jobs import dataset_job_execute
from apps.datasets.services.records import dataset_records_upsert
from apps.projects.models import Role
from apps.projects.services import membership_set
from tests import factories
from tests.browser import login_through_form as login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

XSS = '<img src=x onerror="window.__xss=1">'


@pytest.fixture
def curator_setup(db):
    project = factories.ProjectFactory(slug="web")
    user = get_user_model().objects.create_user("cur", password="pw", is_staff=True)
    membership_set(project=project, user=user, role=Role.CURATOR)
    dataset = factories.DatasetFactory(project=project, name="golden")
    dataset_records_upsert(
        dataset=dataset,
        records=[{"record_id": "r1", "input": {"question": XSS}, "expected": "30 days", "splits": ["test"]}],
    )
    return project, dataset


def test_curator_edits_a_record_inline_and_restores(browser, live_server, curator_setup):
    project, dataset = curator_setup
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, live_server, "cur")
    page.goto(f"{live_server.url}{reverse('admin:datasets_dataset_records', args=[dataset.pk])}")
    row = page.locator('tr[data-record-id="r1"]')
    assert XSS in row.inner_text()  # shown as text, never run
    page.locator(".ds-edit-row details summary").first.click()
    edit = page.locator("form.ds-edit").first
    edit.locator("textarea[name$='-expected']").fill("Within 30 days of delivery")
    edit.locator("input[name$='-message']").fill("sharper")
    edit.locator("button[type=submit]").click()
    page.wait_for_selector("text=saved as version 2")
    assert dataset_records_at_version(dataset=dataset).get(record_id="r1").expected == "Within 30 days of delivery"

    page.goto(f"{live_server.url}{reverse('admin:datasets_dataset_versions', args=[dataset.pk])}")
    page.locator('tr[data-version="1"] button:has-text("restore")').click()
    page.wait_for_selector("text=saved as version 3")
    assert dataset_records_at_version(dataset=dataset).get(record_id="r1").expected == "30 days"
    assert page.evaluate("window.__xss") is None
    assert not errors


def test_job_page_polls_until_done(browser, live_server, curator_setup):
    project, dataset = curator_setup
    trace = factories.TraceFactory(project=project)
    spans = [factories.SpanFactory(trace=trace, span_id=f"p{i}") for i in range(3)]
    # The job row as dataset_job_start writes it, without sending the task (no worker in this test).
    job = DatasetJob.objects.create(
        project=project,
        dataset=dataset,
        kind="add_spans",
        total=3,
        params={"span_pks": [s.pk for s in spans], "mapping": {}},
    )
    page = browser.new_page()
    login(page, live_server, "cur")
    page.goto(f"{live_server.url}{reverse('admin:datasets_dataset_job', args=[job.pk])}")
    assert page.locator("#ds-job-status").inner_text() == "Queued"
    # The worker finishes while the page is open; the page picks it up by polling.
    runner = threading.Timer(0.5, lambda: dataset_job_execute(job_id=job.pk))
    runner.start()
    page.wait_for_selector("#ds-job-done:not([hidden])", timeout=15_000)
    runner.join()
    assert page.locator("#ds-job-status").inner_text() == "Succeeded"
    assert page.locator("#ds-job-count").inner_text() == "3 / 3"
