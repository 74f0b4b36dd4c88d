"""The review page renders the trace through the queue's / project's default view, with a view switcher."""

import pytest

from apps.queues.models import ReviewItem
from apps.queues.services import review_items_add
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
def reviewer_client(client, project, member):
    client.force_login(member(project, role="reviewer"))
    return client


def url(queue, item, query=""):
    return f"/admin/queues/reviewqueue/{queue.pk}/review/{item.pk}/{query}"


def test_without_views_the_page_keeps_its_own_body(reviewer_client, queue_item):
    queue, item = queue_item
    html = reviewer_client.get(url(queue, item)).content.decode()
    assert "tv-switcher" not in html and 'id="assay-review-input"' in html


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
    raw = reviewer_client.get(url(queue, item, "?view=raw")).content.decode()
    assert "tv-title" not in raw and 'id="assay-review-input"' in raw and "tv-switcher" in raw


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
    assert "Theirs" not in html and "tv-title" not in html


def test_make_default_for_a_queue_through_the_api(project, key_client, queue_item, other_project):
    queue, _item = queue_item
    view = factories.TraceViewFactory(project=project)
    client = key_client(project)
    response = client.post(f"/api/v1/trace-views/{view.pk}/make-default/", {"queue": queue.pk}, format="json")
    assert response.json() == {"default": view.pk, "queue": queue.pk}
    foreign_queue = factories.ReviewQueueFactory(project=other_project)
    response = client.post(f"/api/v1/trace-views/{view.pk}/make-default/", {"queue": foreign_queue.pk},
                           format="json")
    assert response.status_code == 404


def _inline(html: str) -> str:
    start = html.index('class="tv-score-controls"')
    return html[start:html.index("</section>\n</div>", start)]


def test_inline_controls_follow_the_blind_queue_and_save_through_the_queue(client, project, member, queue_item):
    from apps.reviews.services import score_record

    queue, item = queue_item
    queue.blind = True
    queue.save()
    config = factories.ScoreConfigFactory(project=project, name="correctness", categorical=True)
    other = member(project, role="reviewer", username="alice-the-other")
    score_record(span=item.span, config=config, label="incorrect", author=other)
    view = trace_view_create(project=project, name="Scored", spec={"components": [
        {"type": "score_controls", "configs": ["correctness"]}]})
    trace_view_default_set(project=project, view=view, queue=queue)
    client.force_login(member(project, role="reviewer", username="bob"))
    inline = _inline(client.get(url(queue, item)).content.decode())
    assert "data-annotation-form" in inline  # live controls
    assert "alice-the-other" not in inline  # blind until bob submits
    assert f"/admin/queues/reviewqueue/{queue.pk}/review/{item.pk}/submit/" in inline  # saves as the review


def test_inline_controls_are_read_only_on_a_closed_item(client, project, member, queue_item):
    from apps.queues.services import review_item_submit

    queue, item = queue_item
    factories.ScoreConfigFactory(project=project, name="correctness", categorical=True)
    view = trace_view_create(project=project, name="Scored", spec={"components": [
        {"type": "score_controls", "configs": ["correctness"]}]})
    trace_view_default_set(project=project, view=view)
    review_item_submit(item=item, user=member(project, role="reviewer", username="first"))
    client.force_login(member(project, role="reviewer", username="late"))
    inline = _inline(client.get(url(queue, item)).content.decode())
    assert "data-assay-annotations" in inline and "data-annotation-form" not in inline


def test_the_chosen_view_is_kept_for_the_next_items(reviewer_client, project, queue_item):
    queue, item = queue_item
    question = trace_view_create(project=project, name="Question", spec=QUESTION)
    answer = trace_view_create(project=project, name="Answer", spec=ANSWER)
    trace_view_default_set(project=project, view=question)
    reviewer_client.get(url(queue, item, f"?view={answer.pk}"))
    assert '<h3 class="tv-title">Answer</h3>' in reviewer_client.get(url(queue, item)).content.decode()
    reviewer_client.get(url(queue, item, "?view=raw"))
    assert "tv-title" not in reviewer_client.get(url(queue, item)).content.decode()
