"""A key or member of one project never sees another project's traces or spans: API and admin.

Another project's ids answer exactly like ids that do not exist.
"""

import pytest
from django.urls import reverse

from apps.projects.models import Role
from tests.factories import SpanFactory, TraceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(project, other_project):
    mine = TraceFactory(project=project, trace_id="mine-trace", name="mine", input_preview="my question")
    mine_span = SpanFactory(trace=mine, span_id="mine-span", name="mine-span", metadata={"env": "prod"})
    theirs = TraceFactory(
        project=other_project, trace_id="their-trace", name="theirs", input_preview="their secret question"
    )
    their_span = SpanFactory(
        trace=theirs, span_id="their-span", name="their-span", metadata={"env": "prod"}, output="their secret answer"
    )
    return {"mine": mine, "mine_span": mine_span, "theirs": theirs, "their_span": their_span}


LIST_QUERIES = [
    ("/api/v1/traces/", {}),
    ("/api/v1/traces/", {"trace_id": "their-trace"}),
    ("/api/v1/traces/", {"name": "theirs"}),
    ("/api/v1/traces/", {"metadata": "env:prod"}),
    ("/api/v1/traces/", {"q": "secret"}),
    ("/api/v1/traces/", {"project": "other"}),
    ("/api/v1/spans/", {}),
    ("/api/v1/spans/", {"trace_id": "their-trace"}),
    ("/api/v1/spans/", {"span_id": "their-span"}),
    ("/api/v1/spans/", {"metadata": "env:prod"}),
    ("/api/v1/spans/", {"project": "other"}),
]


def _assert_lists_only_mine(client):
    for url, params in LIST_QUERIES:
        response = client.get(url, params)
        assert response.status_code == 200, (url, params)
        text = response.content.decode()
        assert "their" not in text and "secret" not in text, (url, params, text)


def _assert_details_404_like_missing(client):
    for found, foreign, missing in [
        ("/api/v1/traces/mine-trace/", "/api/v1/traces/their-trace/", "/api/v1/traces/no-such-trace/"),
        ("/api/v1/spans/mine-span/", "/api/v1/spans/their-span/", "/api/v1/spans/no-such-span/"),
    ]:
        assert client.get(found).status_code == 200
        foreign_response, missing_response = client.get(foreign), client.get(missing)
        assert foreign_response.status_code == missing_response.status_code == 404
        assert foreign_response.content == missing_response.content
        response = client.get(foreign + "?project=other")
        assert response.status_code == 404 and response.content == missing_response.content


def test_api_key_sees_only_its_project(key_client, world, project):
    client = key_client(project, scopes=["read"])
    _assert_lists_only_mine(client)
    _assert_details_404_like_missing(client)
    assert [t["trace_id"] for t in client.get("/api/v1/traces/").json()["results"]] == ["mine-trace"]


def test_member_session_sees_only_its_project(api_client, member, world, project):
    api_client.force_login(member(project, role=Role.VIEWER))
    _assert_lists_only_mine(api_client)
    _assert_details_404_like_missing(api_client)


def test_other_projects_key_is_scoped_the_other_way(key_client, world, other_project):
    client = key_client(other_project, scopes=["read"])
    assert [t["trace_id"] for t in client.get("/api/v1/traces/").json()["results"]] == ["their-trace"]
    assert client.get("/api/v1/traces/mine-trace/").status_code == 404


def test_admin_member_sees_only_its_project(client, member, world, project):
    from apps.projects.services import membership_set
    from tests.factories import ProjectFactory

    user = member(project, role=Role.ADMIN)
    third = ProjectFactory(slug="third")
    membership_set(project=third, user=user, role=Role.VIEWER)  # two projects: the project filter shows
    client.force_login(user)
    for name, params in [
        ("admin:traces_trace_changelist", {}),
        ("admin:traces_trace_changelist", {"q": "their-trace"}),
        ("admin:traces_trace_changelist", {"q": "secret"}),
        ("admin:traces_trace_changelist", {"project": str(world["theirs"].project_id)}),
        ("admin:traces_span_changelist", {}),
        ("admin:traces_span_changelist", {"q": "their-span"}),
        ("admin:traces_span_changelist", {"project": str(world["theirs"].project_id)}),
        ("admin:traces_tag_changelist", {}),
    ]:
        response = client.get(reverse(name), params)
        assert response.status_code == 200, (name, params)
        assert all(obj.project_id == project.pk for obj in response.context["cl"].result_list)
        text = response.content.decode()
        # (the search box echoes the query; the other project's names and previews never show)
        assert "theirs" not in text and "their-span<" not in text and "secret question" not in text, (name, params)
        if not params and name != "admin:traces_tag_changelist":
            # the project filter offers the member's projects only
            assert f"?project={third.pk}" in text
            assert f"?project={world['theirs'].project_id}" not in text

    for view, mine, theirs in [
        ("admin:traces_trace_change", world["mine"].pk, world["theirs"].pk),
        ("admin:traces_span_change", world["mine_span"].pk, world["their_span"].pk),
    ]:
        assert client.get(reverse(view, args=[mine])).status_code == 200
        foreign = client.get(reverse(view, args=[theirs]))
        missing = client.get(reverse(view, args=[987654321]))
        assert foreign.status_code == missing.status_code == 404
        assert b"secret" not in foreign.content
    by_id = client.get(reverse("admin:traces_trace_by_id", args=["their-trace"]))
    assert by_id.status_code == client.get(reverse("admin:traces_trace_by_id", args=["nope"])).status_code == 404


def test_admin_trace_page_span_param_cannot_reach_another_trace(client, member, world, project):
    client.force_login(member(project, role=Role.VIEWER))
    url = reverse("admin:traces_trace_change", args=[world["mine"].pk])
    response = client.get(url, {"span": "their-span"})
    assert response.status_code == 200
    assert b"their secret answer" not in response.content


def test_non_member_staff_sees_nothing(client, world):
    from tests.factories import UserFactory

    client.force_login(UserFactory(username="drifter"))
    assert client.get(reverse("admin:traces_trace_changelist")).status_code == 403
    assert client.get(reverse("admin:traces_trace_change", args=[world["mine"].pk])).status_code == 403
