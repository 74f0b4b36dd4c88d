"""The trace views API: CRUD with pointed errors, render, preview, schema, gallery, project scoping."""

import pytest

from apps.views.models import TraceView
from tests import factories

pytestmark = pytest.mark.django_db

SPEC = {"version": 1, "components": [{"type": "conversation", "path": ["$.input", "$.output"]}]}


def test_create_list_retrieve_update_delete(project, key_client):
    client = key_client(project)
    created = client.post("/api/v1/trace-views/", {"name": "Chat", "spec": SPEC}, format="json")
    assert created.status_code == 201, created.json()
    view_id = created.json()["id"]
    assert created.json()["project"] == "acme"
    listed = client.get("/api/v1/trace-views/").json()
    assert [v["name"] for v in listed["results"]] == ["Chat"]
    patched = client.patch(f"/api/v1/trace-views/{view_id}/", {"description": "for support"}, format="json")
    assert patched.status_code == 200 and patched.json()["description"] == "for support"
    put = client.put(f"/api/v1/trace-views/{view_id}/", {"name": "Chat 2", "spec": SPEC}, format="json")
    assert put.status_code == 200 and put.json()["name"] == "Chat 2"
    assert client.delete(f"/api/v1/trace-views/{view_id}/").status_code == 204
    assert not TraceView.objects.exists()


def test_invalid_spec_names_component_and_field(project, key_client):
    client = key_client(project)
    bad = {"components": [{"type": "json"}, {"type": "markdown"}, {"type": "image", "path": "$["}]}
    response = client.post("/api/v1/trace-views/", {"name": "Bad", "spec": bad}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "The view spec is invalid."
    assert body["fields"]["spec"] == {"components[1].path": ["This field is required."]}
    response = client.post(
        "/api/v1/trace-views/",
        {"name": "Bad", "spec": {"components": [{"type": "image", "path": "$["}]}},
        format="json",
    )
    assert list(response.json()["fields"]["spec"]) == ["components[0].path"]


def test_name_is_required_and_unique(project, key_client):
    client = key_client(project)
    assert client.post("/api/v1/trace-views/", {"spec": SPEC}, format="json").json()["fields"] == {
        "name": ["This field is required."]
    }
    client.post("/api/v1/trace-views/", {"name": "A", "spec": SPEC}, format="json")
    dup = client.post("/api/v1/trace-views/", {"name": "A", "spec": SPEC}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()["fields"]


def test_other_projects_views_are_404_like_missing(project, other_project, key_client):
    theirs = factories.TraceViewFactory(project=other_project)
    client = key_client(project)
    missing = client.get("/api/v1/trace-views/999999/")
    foreign = client.get(f"/api/v1/trace-views/{theirs.pk}/")
    assert missing.status_code == foreign.status_code == 404
    assert missing.json() == foreign.json()
    assert client.delete(f"/api/v1/trace-views/{theirs.pk}/").status_code == 404


def test_render_trace_through_view(project, key_client, chat_trace):
    view = factories.TraceViewFactory(project=project)
    response = key_client(project, scopes=("read",)).get(f"/api/v1/trace-views/{view.pk}/render/?trace=chat-1")
    assert response.status_code == 200
    body = response.json()
    assert body["components"][0]["type"] == "conversation"
    assert body["components"][0]["messages"][-1]["parts"][0]["text"] == "Your order has shipped."
    assert "Your order has shipped." in body["html"]


def test_render_other_projects_trace_is_404(project, other_project, key_client):
    from .conftest import make_trace

    make_trace(other_project, [{"input": "secret"}], trace_id="theirs")
    view = factories.TraceViewFactory(project=project)
    response = key_client(project).get(f"/api/v1/trace-views/{view.pk}/render/?trace=theirs")
    assert response.status_code == 404 and response.json()["fields"] == {"trace": ["No such trace."]}


def test_read_key_cannot_write(project, key_client):
    response = key_client(project, scopes=("read",)).post(
        "/api/v1/trace-views/", {"name": "A", "spec": SPEC}, format="json"
    )
    assert response.status_code == 403


def test_reviewer_session_cannot_create_but_curator_can(project, member, api_client):
    api_client.force_login(member(project, role="reviewer"))
    assert api_client.post("/api/v1/trace-views/", {"name": "A", "spec": SPEC}, format="json").status_code == 403
    api_client.force_login(member(project, role="curator"))
    assert api_client.post("/api/v1/trace-views/", {"name": "A", "spec": SPEC}, format="json").status_code == 201


def test_preview_unsaved_spec(project, member, api_client, rag_trace):
    api_client.force_login(member(project, role="viewer"))
    spec = {"components": [{"type": "markdown", "path": "$.input.question"}]}
    response = api_client.post("/api/v1/trace-views/preview/", {"spec": spec, "trace": "rag-1"}, format="json")
    assert response.status_code == 200
    assert "What is the refund window?" in response.json()["html"]
    bad = api_client.post(
        "/api/v1/trace-views/preview/",
        {"spec": {"components": [{"type": "carousel"}]}, "trace": "rag-1"},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["fields"]["spec"]) == {"components[0].path", "components[0].components"}


def test_schema_is_published_and_gallery_listed(project, key_client):
    schema = key_client(project).get("/api/v1/trace-views/schema/").json()
    assert schema["$schema"].endswith("2020-12/schema") and "aggregate" in schema["$defs"]
    gallery = key_client(project).get("/api/v1/trace-views/templates/").json()
    assert [t["key"] for t in gallery] == ["chat", "rag", "agent", "classification"]


def test_make_default_sets_the_projects_default_view(project, key_client):
    view = factories.TraceViewFactory(project=project)
    assert key_client(project).post(f"/api/v1/trace-views/{view.pk}/make-default/").json() == {
        "default": view.pk,
        "queue": None,
    }
    from apps.views.selectors import trace_view_default

    assert trace_view_default(project=project) == view


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 12, "spec": SPEC}, "name"),
        ({"name": "x", "description": ["no"], "spec": SPEC}, "description"),
        ({"name": "x", "spec": "not an object"}, "spec"),
        ({"name": "x", "spec": None}, "spec"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(project, key_client, body, field):
    response = key_client(project).post("/api/v1/trace-views/", body, format="json")
    assert response.status_code == 400 and field in response.json()["fields"]


def test_absurd_specs_are_refused_not_crashed(project, key_client):
    deep: dict = {"type": "json"}
    for _ in range(200):
        deep = {"type": "carousel", "path": "$", "components": [deep]}
    response = key_client(project).post(
        "/api/v1/trace-views/", {"name": "deep", "spec": {"components": [deep]}}, format="json"
    )
    # The body parser refuses it before the spec validator (docs/decisions.md, "Hostile input").
    assert response.status_code == 400
    ((field, messages),) = response.json()["fields"].items()
    assert field.startswith("spec.components[0]") and "Nested more than" in messages[0]
    big = {"components": [{"type": "fields", "fields": [{"label": "x" * 150, "path": "$.a"}] * 100}] * 20}
    response = key_client(project).post("/api/v1/trace-views/", {"name": "big", "spec": big}, format="json")
    assert response.status_code == 400 and "Larger than" in response.json()["fields"]["spec"]["spec"][0]


def test_render_needs_a_trace(project, key_client):
    view = factories.TraceViewFactory(project=project)
    response = key_client(project).get(f"/api/v1/trace-views/{view.pk}/render/")
    assert response.status_code == 400 and response.json()["fields"] == {"trace": ["This field is required."]}


def test_list_filters_by_project(project, other_project, member, api_client):
    user = member(project, role="viewer")
    from apps.projects.services import membership_set

    membership_set(project=other_project, user=user, role="viewer")
    factories.TraceViewFactory(project=project, name="ours")
    factories.TraceViewFactory(project=other_project, name="theirs")
    api_client.force_login(user)
    assert len(api_client.get("/api/v1/trace-views/").json()["results"]) == 2
    names = [v["name"] for v in api_client.get("/api/v1/trace-views/?project=other").json()["results"]]
    assert names == ["theirs"]
