"""The admin editor, the trace page and share-link admin, as a curator / viewer would use them."""

import json

import pytest

from apps.views.models import ShareLink, TraceView
from apps.views.selectors import trace_view_default
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(client_as, project):
    return client_as("curator", project)


def test_editor_creates_view_from_template(curator_client, project, chat_trace):
    page = curator_client.get("/admin/views/traceview/editor/?template=rag")
    assert page.status_code == 200
    html = page.content.decode()
    assert "RAG: question, retrieved documents and answer" in html and 'id="tv-gallery-specs"' in html
    csp = page["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";")[0]
    spec = {"version": 1, "components": [{"type": "markdown", "path": "$.output.content"}]}
    response = curator_client.post(
        "/admin/views/traceview/editor/",
        {
            "name": "Answer",
            "description": "",
            "project": "acme",
            "spec": json.dumps(spec),
            "make_default": "1",
            "trace": str(chat_trace.pk),
        },
    )
    view = TraceView.objects.get(name="Answer")
    assert response.status_code == 302 and response["Location"].endswith(f"/{view.pk}/editor/?trace={chat_trace.pk}")
    assert view.spec == spec and trace_view_default(project=project) == view


def test_editor_shows_errors_at_component_and_field(curator_client, project):
    view = factories.TraceViewFactory(project=project, name="V")
    bad = {"components": [{"type": "json"}, {"type": "fields", "fields": [{"label": "x"}]}]}
    response = curator_client.post(
        f"/admin/views/traceview/{view.pk}/editor/", {"name": "V", "description": "", "spec": json.dumps(bad)}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "<code>components[1].fields[0].path</code>: This field is required." in html
    view.refresh_from_db()
    assert view.spec["components"][0]["type"] == "conversation"  # unchanged


def test_editor_reports_invalid_json(curator_client, project):
    response = curator_client.post("/admin/views/traceview/editor/", {"name": "X", "project": "acme", "spec": "{nope"})
    assert response.status_code == 400 and "<code>spec</code>: Invalid JSON" in response.content.decode()
    assert not TraceView.objects.exists()


def test_change_page_opens_the_editor(curator_client, project):
    view = factories.TraceViewFactory(project=project)
    response = curator_client.get(f"/admin/views/traceview/{view.pk}/change/")
    assert response.status_code == 302 and response["Location"].endswith(f"/{view.pk}/editor/")


def test_editor_of_another_projects_view_is_404(curator_client, other_project):
    theirs = factories.TraceViewFactory(project=other_project)
    assert curator_client.get(f"/admin/views/traceview/{theirs.pk}/editor/").status_code == 404


def test_reviewer_cannot_open_editor(client, project, member):
    client.force_login(member(project, role="reviewer"))
    assert client.get("/admin/views/traceview/editor/").status_code == 403


def test_editor_without_llm_explains_configuration(curator_client, settings):
    settings.LLM_BASE_URL = ""
    html = curator_client.get("/admin/views/traceview/editor/").content.decode()
    assert 'id="tv-llm-help"' in html and "LLM_BASE_URL" in html and "LLM_MODEL" in html


def test_trace_page_renders_view_with_csp(client, project, member, rag_trace):
    client.force_login(member(project, role="viewer"))
    view = factories.TraceViewFactory(
        project=project, spec={"components": [{"type": "markdown", "path": "$.input.question"}]}
    )
    response = client.get(f"/admin/views/traceview/{view.pk}/trace/rag-1/")
    assert response.status_code == 200 and "What is the refund window?" in response.content.decode()
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_share_links_admin_revokes(curator_client, project, chat_trace):
    from apps.views.services import share_link_create

    view = factories.TraceViewFactory(project=project)
    link, _ = share_link_create(view=view, trace=chat_trace)
    response = curator_client.post("/admin/views/sharelink/", {"action": "revoke", "_selected_action": [link.pk]})
    assert response.status_code == 302
    assert ShareLink.objects.get().revoked_at is not None


def test_trace_page_links_to_views(client, project, member, rag_trace):
    view = factories.TraceViewFactory(project=project, name="RAG view")
    client.force_login(member(project, role="viewer"))
    html = client.get(f"/admin/traces/trace/{rag_trace.pk}/change/").content.decode()
    assert f'href="/admin/views/traceview/{view.pk}/trace/{rag_trace.pk}/"' in html and "RAG view" in html
    assert "Design a view" not in html  # viewers do not design views


def test_editor_tells_where_links_embed(curator_client, project):
    view = factories.TraceViewFactory(project=project)
    html = curator_client.get(f"/admin/views/traceview/{view.pk}/editor/").content.decode()
    assert "Embedding is off" in html
    project.allowed_origins = ["https://app.example.com"]
    project.save()
    html = curator_client.get(f"/admin/views/traceview/{view.pk}/editor/").content.decode()
    assert "Embeddable on https://app.example.com" in html and 'id="tv-share-embed"' in html
