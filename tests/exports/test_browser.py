"""The exports page's live progress bar in headless Chromium: it polls while a job runs, then shows
the finished state and the download link, and the file downloads as an attachment."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model

from apps.exports.models import ExportJob
from apps.exports.services import export_job_create, export_job_run
from apps.projects.models import Role
from apps.projects.services import membership_set
from tests import factories
from tests.browser import login_through_form

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_progress_bar_follows_a_running_export_and_offers_the_download(
    browser, live_server, settings, tmp_path, slow_chunks
):
    settings.EXPORTS_CHUNK_SIZE = 5
    slow_chunks(0.4)
    project = factories.ProjectFactory(slug="web")
    user = get_user_model().objects.create_user("cur", password="pw", is_staff=True)
    membership_set(project=project, user=user, role=Role.CURATOR)
    trace = factories.TraceFactory(project=project)
    factories.SpanFactory.create_batch(40, trace=trace, output={"role": "assistant", "content": "<b>x</b>"})
    job = export_job_create(project=project, source="spans", format="jsonl", dispatch=False)

    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login_through_form(page, live_server, "cur")
    page.goto(f"{live_server.url}/admin/exports/exportjob/{job.pk}/change/")
    bar = page.locator(f'progress.export-progress[data-export-id="{job.pk}"]')
    assert bar.get_attribute("data-status") == "queued"
    assert page.locator("#export-download-item").is_hidden()

    worker = threading.Thread(target=export_job_run, kwargs={"job_id": job.pk})  # stands in for Celery
    worker.start()
    try:
        page.wait_for_function(
            """id => { const b = document.querySelector(`progress[data-export-id="${id}"]`);
                       return b && b.dataset.status === "running" && b.value > 0 && b.value < 1; }""",
            arg=job.pk,
            timeout=20_000,
        )
        page.wait_for_function(
            """id => document.querySelector(`progress[data-export-id="${id}"]`).dataset.status === "succeeded" """,
            arg=job.pk,
            timeout=30_000,
        )
    finally:
        worker.join(timeout=60)
    assert ExportJob.objects.get(pk=job.pk).status == "succeeded"
    assert bar.evaluate("b => b.value") == 1
    assert page.locator(f'.export-status[data-export-id="{job.pk}"]').first.text_content() == "Succeeded"
    assert page.locator("#export-download-item").is_visible()
    assert page.locator(".export-cancel-form").first.is_hidden()
    with page.expect_download() as download_info:
        page.click("a.export-download")
    download = download_info.value
    assert download.suggested_filename == f"{job.pk}.jsonl"
    assert open(download.path(), "rb").read().count(b"\n") == 40
    assert errors == []
