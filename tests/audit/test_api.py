"""GET /api/v1/audit-events/ and its export: project admins only, one project never sees another's."""

import csv
import io
import json

import pytest

from apps.audit.services import audit_record
from apps.projects.models import Role
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/audit-events/"


@pytest.fixture
def logged(project, other_project, admin_member):
    """Events in both projects: two score-config changes in acme, one in other."""
    mine = factories.ScoreConfigFactory(project=project, name="accuracy")
    theirs = factories.ScoreConfigFactory(project=other_project, name="secret-config")
    audit_record(actor=admin_member, action="score_config.create", obj=mine, after={"name": "accuracy"})
    audit_record(
        actor=admin_member,
        action="score_config.update",
        obj=mine,
        before={"description": ""},
        after={"description": '=HYPERLINK("http://x")'},
    )
    audit_record(actor=None, action="score_config.create", obj=theirs, after={"name": "secret-config"})
    return mine, theirs


def _actions(response) -> list[str]:
    return [e["action"] for e in response.json()["results"] if e["object_type"] == "reviews.scoreconfig"]


def test_project_admin_reads_own_project_newest_first(api_client, admin_member, logged):
    api_client.force_login(admin_member)
    response = api_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert set(body) >= {"next", "previous", "results"}
    assert _actions(response) == ["score_config.update", "score_config.create"]
    first = body["results"][0]
    assert first["project"] == "acme" and first["actor"] == "alice" and first["actor_user"] == "alice"
    assert first["object_repr"] == "accuracy" and first["before"] == {"description": ""}
    assert "secret-config" not in response.content.decode()


def test_audit_log_filters_by_action_actor_object_and_time_and_names_a_bad_time(api_client, admin_member, logged):
    api_client.force_login(admin_member)
    mine, _ = logged
    assert _actions(api_client.get(URL, {"action": "score_config.update"})) == ["score_config.update"]
    assert _actions(api_client.get(URL, {"action_prefix": "score_config."})) == [
        "score_config.update",
        "score_config.create",
    ]
    assert len(api_client.get(URL, {"actor": "alice", "object_type": "reviews.scoreconfig"}).json()["results"]) == 2
    assert api_client.get(URL, {"actor": "nobody"}).json()["results"] == []
    assert len(api_client.get(URL, {"object_type": "reviews.scoreconfig", "object_id": mine.pk}).json()["results"]) == 2
    assert api_client.get(URL, {"created_after": "2999-01-01T00:00:00Z"}).json()["results"] == []
    assert _actions(api_client.get(URL, {"created_before": "2999-01-01T00:00:00Z"})) == [
        "score_config.update",
        "score_config.create",
    ]
    bad = api_client.get(URL, {"created_after": "yesterday"})
    assert bad.status_code == 400 and "created_after" in bad.json()["fields"]


def test_audit_log_pages_newest_first_without_repeats(api_client, project, admin_member):
    for n in range(5):
        audit_record(actor=admin_member, action=f"x.{n}", obj=project)
    api_client.force_login(admin_member)
    seen, url = [], f"{URL}?page_size=2&action_prefix=x."
    while url:
        page = api_client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [e["action"] for e in page["results"]]
        url = page["next"]
    assert seen == ["x.4", "x.3", "x.2", "x.1", "x.0"]


def test_admin_of_one_project_viewer_of_another_sees_only_the_first(api_client, other_project, admin_member, logged):
    from apps.projects.services import membership_set

    membership_set(project=other_project, user=admin_member, role=Role.VIEWER)
    api_client.force_login(admin_member)
    response = api_client.get(URL, {"project": "other"})
    assert response.status_code == 200 and response.json()["results"] == []
    assert "secret-config" not in api_client.get(URL).content.decode()
    export = api_client.get(f"{URL}export/", {"file_format": "jsonl"})
    assert b"secret-config" not in b"".join(export.streaming_content)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.CURATOR])
def test_non_admin_members_are_refused(api_client, project, member, logged, role):
    api_client.force_login(member(project, role=role))
    assert api_client.get(URL).status_code == 403
    assert api_client.get(f"{URL}export/").status_code == 403


def test_anonymous_is_refused(api_client, logged):
    assert api_client.get(URL).status_code in (401, 403)


def test_keys_need_write_and_see_only_their_project(project, other_project, key_client, logged):
    assert key_client(project, scopes=("read",)).get(URL).status_code == 403
    assert key_client(project, scopes=("ingest",)).get(URL).status_code == 403
    assert key_client(project, scopes=("feedback",)).get(URL).status_code == 403
    theirs = key_client(other_project, scopes=("read", "write")).get(URL, {"object_type": "reviews.scoreconfig"})
    assert theirs.status_code == 200
    assert [e["object_repr"] for e in theirs.json()["results"]] == ["secret-config"]
    # Naming the other project changes nothing: a key reads its own project only.
    assert key_client(other_project, scopes=("write",)).get(URL, {"project": "acme"}).json()["results"] == []


def test_export_csv_and_jsonl(api_client, admin_member, logged):
    api_client.force_login(admin_member)
    response = api_client.get(f"{URL}export/", {"file_format": "csv", "object_type": "reviews.scoreconfig"})
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    assert response["X-Content-Type-Options"] == "nosniff"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["score_config.create", "score_config.update"]  # oldest first
    assert json.loads(rows[1]["after"]) == {"description": '=HYPERLINK("http://x")'}
    assert rows[0]["actor"] == "alice" and rows[0]["project"] == "acme"

    jsonl = api_client.get(f"{URL}export/", {"file_format": "jsonl", "action": "score_config.update"})
    lines = [json.loads(line) for line in b"".join(jsonl.streaming_content).decode().splitlines()]
    assert [(e["action"], e["after"]) for e in lines] == [
        ("score_config.update", {"description": '=HYPERLINK("http://x")'})
    ]
    bad = api_client.get(f"{URL}export/", {"file_format": "xlsx"})
    assert bad.status_code == 400 and "file_format" in bad.json()["fields"]


def test_csv_neutralises_formula_cells(api_client, project, admin_member):
    audit_record(
        actor=admin_member,
        action="dataset.create",
        object_type="datasets.dataset",
        object_id=1,
        object_repr="=SUM(A1:A9)",
        project=project,
    )
    api_client.force_login(admin_member)
    response = api_client.get(f"{URL}export/", {"file_format": "csv", "action": "dataset.create"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["object_repr"] == "'=SUM(A1:A9)"


def test_a_page_costs_the_same_queries_whatever_its_size(
    api_client, project, admin_member, django_assert_max_num_queries
):
    from apps.projects.services import api_key_create

    key, _ = api_key_create(project=project, scopes=["read"], created_by=admin_member)
    for n in range(60):
        audit_record(actor=key if n % 2 else admin_member, action="x.y", obj=project)
    api_client.force_login(admin_member)
    api_client.get(URL)  # session and role lookups warmed
    with django_assert_max_num_queries(6):
        page = api_client.get(URL, {"page_size": 50, "action": "x.y"})
    assert len(page.json()["results"]) == 50
    assert {e["actor"] for e in page.json()["results"]} == {"alice", f"key {key.prefix} ({key.name})"}
