"""The experiment admin: lists, previews and filters, results into a review queue and onto the existing
review page, and experiment traces kept out of the production trace list."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.experiments.services import experiment_results_upsert
from apps.projects.models import Role
from apps.queues.models import ReviewItem
from apps.queues.services.queues import review_queue_create
from apps.traces.models import Trace, TraceOrigin
from tests import factories

pytestmark = pytest.mark.django_db

RESULTS_URL = "admin:experiments_experimentresult_changelist"


@pytest.fixture
def ran(experiment):
    experiment_results_upsert(
        experiment=experiment,
        items=[
            {"record_id": "r1", "output": {"role": "assistant", "content": "Refunds take 30 days."}},
            {"record_id": "r2", "output": None, "error": "<b>timeout</b>", "latency_ms": 2500},
        ],
    )
    return experiment


def test_the_experiment_list_and_page_show_version_and_results(client_as, project, ran):
    client = client_as(Role.VIEWER, project)
    client.user.is_staff = True
    client.user.save()
    listed = client.get(reverse("admin:experiments_experiment_changelist"))
    assert listed.status_code == 200
    text = listed.content.decode()
    assert "baseline" in text and "v1 (prod)" in text and "2 of 3" in text
    page = client.get(reverse("admin:experiments_experiment_change", args=[ran.pk]))
    assert page.status_code == 200 and f"?experiment={ran.pk}" in page.content.decode()


def test_results_changelist_previews_filters_and_escapes(admin_client, ran, dataset, author):
    from apps.experiments.services import experiment_create

    other = experiment_create(project=ran.project, dataset=dataset, version=2, name="candidate", user=author)
    experiment_results_upsert(experiment=other, items=[{"record_id": "r4", "output": "other run"}])
    url = reverse(RESULTS_URL)
    page = admin_client.get(url, {"experiment": ran.pk})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Refunds take 30 days." in text and "30 days" in text  # output and expected previews
    assert "other run" not in text and "<b>timeout</b>" not in text and "&lt;b&gt;timeout&lt;/b&gt;" in text
    failed = admin_client.get(url, {"experiment": ran.pk, "has_error": "yes"}).context["cl"].result_list
    assert [r.record_id for r in failed] == ["r2"]
    assert [r.record_id for r in admin_client.get(url, {"q": "r4"}).context["cl"].result_list] == ["r4"]
    assert admin_client.get(url, {"experiment": "x"}).context["cl"].result_list.count() == 0
    trace_link = reverse("admin:traces_trace_change", args=[ran.results.get(record_id="r1").span.trace_id])
    assert trace_link in text


def test_results_go_to_a_review_queue_and_open_on_the_review_page(client_as, project, ran):
    queue = review_queue_create(project=project, name="Experiment review")
    client = client_as(Role.ADMIN, project)
    client.user.is_staff = True
    client.user.save()
    url = reverse(RESULTS_URL) + f"?experiment={ran.pk}"
    form = {"action": "add_results_to_review_queue", "select_across": "1", "index": "0", "_selected_action": ["0"]}
    chooser = client.post(url, form)
    assert chooser.status_code == 200 and b"Experiment review" in chooser.content
    assert client.post(url, {**form, "queue": str(queue.pk)}).status_code == 302
    items = ReviewItem.objects.filter(queue=queue).select_related("span")
    assert sorted(item.span.metadata["record_id"] for item in items) == ["r1", "r2"]
    review = client.get(reverse("admin:queues_reviewqueue_review", args=[queue.pk]), follow=True)
    assert review.status_code == 200
    assert b"Refunds take 30 days." in review.content or b"timeout" in review.content  # a result's own span
    # Again from the experiment list: nothing is queued twice.
    experiments = reverse("admin:experiments_experiment_changelist")
    form = {"action": "add_experiment_results_to_review_queue", "index": "0", "_selected_action": [str(ran.pk)]}
    assert client.post(experiments, {**form, "queue": str(queue.pk)}).status_code == 302
    assert ReviewItem.objects.filter(queue=queue).count() == 2


def test_a_reviewer_is_not_offered_the_queue_action_and_others_see_nothing(client_as, project, other_project, ran):
    reviewer = client_as(Role.REVIEWER, project)
    reviewer.user.is_staff = True
    reviewer.user.save()
    page = reviewer.get(reverse(RESULTS_URL))
    assert page.status_code == 200 and b"add_results_to_review_queue" not in page.content
    outsider = client_as(Role.ADMIN, other_project)
    outsider.user.is_staff = True
    outsider.user.save()
    assert outsider.get(reverse(RESULTS_URL)).context["cl"].result_list.count() == 0
    hidden = outsider.get(reverse("admin:experiments_experiment_change", args=[ran.pk]))
    missing = outsider.get(reverse("admin:experiments_experiment_change", args=[999_999]))
    assert hidden.status_code == missing.status_code


def test_the_trace_list_shows_production_traces_unless_asked(admin_client, ran, project):
    factories.TraceFactory(project=project, trace_id="prod-trace", name="production-call")
    url = reverse("admin:traces_trace_changelist")
    default = {t.trace_id for t in admin_client.get(url).context["cl"].result_list}
    assert default == {"prod-trace"}
    experiment_ids = set(Trace.objects.filter(origin=TraceOrigin.EXPERIMENT).values_list("trace_id", flat=True))
    assert len(experiment_ids) == 2
    shown = {t.trace_id for t in admin_client.get(url, {"origin": "experiment"}).context["cl"].result_list}
    assert shown == experiment_ids
    assert len(admin_client.get(url, {"origin": "all"}).context["cl"].result_list) == 3
