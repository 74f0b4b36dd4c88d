"""The review page renders the trace through the queue's / project's default view, with a view switcher,
else through the default view that fits the trace's shape."""

import pytest

from apps.queues.models import ReviewItem
from apps.queues.services.filling import review_items_add
from apps.traces.models import Span
from apps.views.services import trace_view_create, trace_view_default_set
from tests import factories

pytestmark = pytest.mark.django_db

QUESTION = {"components": [{"type": "markdown", "title": "Question", "path": "$.input.question"}]}
ANSWER = {"components": [{"type": "markdown", "title": "Answer", "path": "$.output.answer"}]}


@pytest.fixture
def queue_item(project, rag_trace):
    queue = factories.ReviewQueueFactory(project=project, name="rag review")
    review_items_add(queue=queue, spans=Span.objects.filter(span_id="rag-1-s0"))
    return queue, ReviewItem.objects.get(queue=queue)


@pytest.fixture
def reviewer_client(client_as, project):
    return client_as("reviewer", project)


def url(queue, item, query=""):
    return f"/admin/queues/reviewqueue/{queue.pk}/review/{item.pk}/{query}"


PASSAGES = '<h3 class="tv-title">Retrieved passages</h3>'


def test_without_views_the_default_view_fits_the_rag_trace(reviewer_client, queue_item):
    queue, item = queue_item
    html = reviewer_client.get(url(queue, item)).content.decode()
    assert "tv-switcher" not in html
    assert '<h3 class="tv-title">Question</h3>' in html and "What is the refund window?" in html
    assert PASSAGES in html and "You can return items within 30 days." in html and "kb/refunds.md" in html
    assert '<h3 class="tv-title">Answer</h3>' in html and "Refunds are accepted within" in html
    assert "{&quot;question&quot;" not in html  # not a grey JSON block


def test_project_default_view_renders_and_switches(reviewer_client, project, queue_item):
    queue, item = queue_item
    question = trace_view_create(project=project, name="Question", spec=QUESTION)
    answer = trace_view_create(project=project, name="Answer", spec=ANSWER)
    trace_view_default_set(project=project, view=question)
    html = reviewer_client.get(url(queue, item)).content.decode()
    assert '<h3 class="tv-title">Question</h3>' in html and "tv-switcher" in html
    assert f'<option value="{answer.pk}">Answer</option>' in html
    html = reviewer_client.get(url(queue, item, f"?view={answer.pk}")).content.decode()
    assert '<h3 class="tv-title">Answer</h3>' in html and "Refunds are accepted within" in html
    auto = reviewer_client.get(url(queue, item, "?view=auto")).content.decode()
    assert PASSAGES in auto and "tv-switcher" in auto


def test_queue_default_beats_project_default(reviewer_client, project, queue_item):
    queue, item = queue_item
    question = trace_view_create(project=project, name="Question", spec=QUESTION)
    answer = trace_view_create(project=project, name="Answer", spec=ANSWER)
    trace_view_default_set(project=project, view=question)
    trace_view_default_set(project=project, view=answer, queue=queue)
    html = reviewer_client.get(url(queue, item)).content.decode()
    assert '<h3 class="tv-title">Answer</h3>' in html


def test_other_projects_view_id_is_ignored(reviewer_client, project, other_project, queue_item):
    queue, item = queue_item
    theirs = factories.TraceViewFactory(project=other_project, name="Theirs", spec=ANSWER)
    trace_view_create(project=project, name="Question", spec=QUESTION)
    html = reviewer_client.get(url(queue, item, f"?view={theirs.pk}")).content.decode()
    assert "Theirs" not in html and PASSAGES in html


def test_make_default_for_a_queue_through_the_api(project, key_client, queue_item, other_project):
    queue, _item = queue_item
    view = factories.TraceViewFactory(project=project)
    client = key_client(project)
    response = client.post(f"/api/v1/trace-views/{view.pk}/make-default/", {"queue": queue.pk}, format="json")
    assert response.json() == {"default": view.pk, "queue": queue.pk}
    foreign_queue = factories.ReviewQueueFactory(project=other_project)
    response = client.post(f"/api/v1/trace-views/{view.pk}/make-default/", {"queue": foreign_queue.pk}, format="json")
    assert response.status_code == 404


def test_inline_controls_point_at_the_one_panel_with_only_the_queues_configs(client, project, member, queue_item):
    from apps.reviews.services.scores import score_record

    queue, item = queue_item
    queue.blind = True
    queue.save()
    config = factories.ScoreConfigFactory(project=project, name="correctness", categorical=True)
    factories.ScoreConfigFactory(project=project, name="style", categorical=True)  # not the queue's
    queue.score_configs.set([config])
    other = member(project, role="reviewer", username="alice-the-other")
    score_record(span=item.span, config=config, label="incorrect", author=other)
    view = trace_view_create(
        project=project,
        name="Scored",
        spec={"components": [{"type": "score_controls", "configs": ["correctness", "style"]}]},
    )
    trace_view_default_set(project=project, view=view, queue=queue)
    client.force_login(member(project, role="reviewer", username="bob"))
    html = client.get(url(queue, item)).content.decode()
    assert html.count("data-annotation-form") == 1 and html.count('data-action="save"') == 1  # one panel, one Save
    assert 'data-focus-score="correctness"' in html and 'data-focus-score="style"' not in html
    assert 'data-score-config="style"' not in html
    assert "alice-the-other" not in html  # blind until bob submits


def test_the_chosen_view_is_kept_for_the_next_items(reviewer_client, project, queue_item):
    queue, item = queue_item
    question = trace_view_create(project=project, name="Question", spec=QUESTION)
    answer = trace_view_create(project=project, name="Answer", spec=ANSWER)
    trace_view_default_set(project=project, view=question)
    reviewer_client.get(url(queue, item, f"?view={answer.pk}"))
    assert '<h3 class="tv-title">Answer</h3>' in reviewer_client.get(url(queue, item)).content.decode()
    reviewer_client.get(url(queue, item, "?view=auto"))
    assert PASSAGES in reviewer_client.get(url(queue, item)).content.decode()
