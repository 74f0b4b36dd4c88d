"""The permission policy (apps/projects/permissions.py) and the API's permission matrix: every operation of
the OpenAPI schema × role × project.

Each write operation names the policy action it needs and a body that works; a member below that role is
refused (403/404) and nothing is written, a member with it succeeds (the control that proves the body is
valid). The admin of A who is only a viewer of B writes nothing in B; another project's objects answer
exactly like missing ones, for sessions and for keys.
"""

from __future__ import annotations

import json

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.datasets.models import Dataset, DatasetJob
from apps.experiments.models import Experiment, OnlineRule, RunJob, Scorer, ScoringJob
from apps.exports.models import ExportDestination, ExportJob, ExportSchedule
from apps.projects import permissions as policy
from apps.projects.models import ROLE_RANK, Membership, Role
from apps.queues.models import ReviewItem, ReviewQueue
from apps.reviews.models import Score, ScoreConfig
from apps.traces.models import Span, Trace
from apps.views.models import ShareLink, TraceView
from tests import factories
from tests.projects.world import build_world, changed, fingerprint, member

pytestmark = pytest.mark.django_db

SPEC = {"version": 1, "components": [{"type": "conversation", "path": ["$.input", "$.output"]}]}
MISSING = 999_999


# ---------------------------------------------------------------- the policy itself


def test_every_action_names_a_known_role_and_key_scopes():
    from apps.projects.models import Scope

    for action, role, scopes in policy.roles_table():
        assert role in ROLE_RANK, action
        assert set(scopes) <= set(Scope.values), action
    assert policy.action_role("score_config.manage") == Role.ADMIN
    assert policy.action_role("dataset.write") == Role.CURATOR
    assert policy.action_role("annotation.write") == Role.REVIEWER
    assert policy.action_role("project.view") == Role.VIEWER
    with pytest.raises(KeyError):
        policy.action_role("no.such.action")


def test_the_role_in_the_objects_own_project_decides():
    a, b = factories.ProjectFactory(slug="pa"), factories.ProjectFactory(slug="pb")
    user = member(a, Role.ADMIN, "both")
    member(b, Role.VIEWER, "both")
    assert policy.can(user, "score_config.manage", a)
    assert not policy.can(user, "score_config.manage", b)
    assert policy.can(user, "project.view", b)
    assert not policy.can(user, "project.view", factories.ProjectFactory(slug="pc"))
    assert set(policy.projects_where(user, "queue.manage")) == {a}
    assert set(policy.projects_where(user, "project.view")) == {a, b}
    with pytest.raises(Exception) as refused:
        policy.require(user, "dataset.write", b)
    assert refused.value.status == 403 and "curator" in refused.value.message


def test_keys_act_in_their_project_with_the_scope_the_action_needs():
    from apps.projects.services import api_key_create

    a, b = factories.ProjectFactory(slug="ka"), factories.ProjectFactory(slug="kb")
    writer, _ = api_key_create(project=a, scopes=["read", "write"])
    feedback, _ = api_key_create(project=a, scopes=["feedback"])
    assert policy.can(writer, "score_config.manage", a) and not policy.can(writer, "score_config.manage", b)
    assert not policy.can(writer, "api_key.manage", a)  # keys never manage keys
    assert not policy.can(writer, "member.manage", a)  # nor members, without the admin scope
    admin_key, _ = api_key_create(project=a, scopes=["admin"])
    assert policy.can(admin_key, "member.manage", a) and not policy.can(admin_key, "member.manage", b)
    assert not policy.can(admin_key, "score_config.manage", a)  # the admin scope reaches people only
    assert policy.can(feedback, "feedback.send", a) and not policy.can(feedback, "project.view", a)


# ---------------------------------------------------------------- the API matrix


def _operations() -> list[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


OPERATIONS = _operations()


def _ingest_body(w):
    return {
        "project": w.project.slug,
        "spans": [{"span_id": "hijack-1", "trace_id": "hijack-t", "name": "x", "start_time": "2025-01-01T00:00:00Z"}],
    }


def _otlp_body(w):
    return {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "hijack",
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": "1700000001000000000",
                            }
                        ]
                    }
                ]
            }
        ]
    }


# (method, path) -> (policy action, body builder or None for no body, control):
# control "writes" — a member with the role succeeds and something is written;
# "ok" — they succeed (the write may be a no-op here); None — not run (needs an LLM, or documented elsewhere).
WRITES = {
    ("POST", "/api/v1/datasets/"): ("dataset.write", lambda w: {"project": w.project.slug, "name": "new"}, "writes"),
    ("PUT", "/api/v1/datasets/{id}/"): ("dataset.write", lambda w: {"name": "renamed", "description": "x"}, "writes"),
    ("PATCH", "/api/v1/datasets/{id}/"): ("dataset.write", lambda w: {"name": "renamed"}, "writes"),
    ("DELETE", "/api/v1/datasets/{id}/"): ("dataset.write", None, "writes"),
    ("POST", "/api/v1/datasets/{id}/add-spans/"): (
        "dataset.write",
        lambda w: {"span_ids": [w.extra["loose_span"].span_id]},
        "writes",
    ),
    ("POST", "/api/v1/datasets/{id}/from-feedback/"): ("dataset.write", lambda w: {}, "ok"),
    ("POST", "/api/v1/datasets/{id}/generate/"): ("dataset.write", lambda w: {"count": 2}, None),
    ("POST", "/api/v1/datasets/{id}/records/"): (
        "dataset.write",
        lambda w: {"records": [{"record_id": "r5", "input": {"q": "new"}}]},
        "writes",
    ),
    ("DELETE", "/api/v1/datasets/{id}/records/"): ("dataset.write", lambda w: {"record_ids": ["r1"]}, "writes"),
    ("DELETE", "/api/v1/datasets/{id}/records/{record_id}/"): ("dataset.write", None, "writes"),
    ("POST", "/api/v1/datasets/{id}/tags/"): ("dataset.write", lambda w: {"name": "beta", "version": 1}, "writes"),
    ("PUT", "/api/v1/datasets/{id}/tags/{name}/"): ("dataset.write", lambda w: {"version": 2}, "writes"),
    ("DELETE", "/api/v1/datasets/{id}/tags/{name}/"): ("dataset.write", None, "writes"),
    ("POST", "/api/v1/datasets/{id}/versions/{number}/restore/"): ("dataset.write", lambda w: {}, "writes"),
    ("POST", "/api/v1/experiments/"): (
        "experiment.write",
        lambda w: {"project": w.project.slug, "dataset": w[Dataset].pk, "version": "prod", "name": "candidate"},
        "writes",
    ),
    ("POST", "/api/v1/experiments/{id}/results/"): (
        "experiment.results",
        lambda w: {"results": [{"record_id": "e1", "output": {"a": "later"}}]},
        "writes",
    ),
    ("POST", "/api/v1/exports/"): (
        "export.run",
        lambda w: {"project": w.project.slug, "source": "spans", "format": "jsonl"},
        "writes",
    ),
    ("POST", "/api/v1/exports/{id}/cancel/"): ("export.run", lambda w: {}, "writes"),
    ("POST", "/api/v1/export-schedules/"): (
        "export.schedule",
        lambda w: {"project": w.project.slug, "name": "hourly", "every": 1, "period": "hours"},
        "writes",
    ),
    ("PATCH", "/api/v1/export-schedules/{id}/"): ("export.schedule", lambda w: {"every": 2}, "writes"),
    ("DELETE", "/api/v1/export-schedules/{id}/"): ("export.schedule", None, "writes"),
    ("POST", "/api/v1/export-schedules/{id}/pause/"): ("export.schedule", lambda w: {}, "writes"),
    ("POST", "/api/v1/export-schedules/{id}/resume/"): ("export.schedule", lambda w: {}, "ok"),
    ("POST", "/api/v1/export-schedules/{id}/trigger/"): ("export.schedule", lambda w: {}, "writes"),
    ("POST", "/api/v1/export-destinations/"): (
        "export.destination",
        lambda w: {"project": w.project.slug, "name": "cold", "kind": "local", "prefix": "cold"},
        "writes",
    ),
    ("PATCH", "/api/v1/export-destinations/{id}/"): ("export.destination", lambda w: {"prefix": "moved"}, "writes"),
    ("DELETE", "/api/v1/export-destinations/{id}/"): ("export.destination", None, "writes"),
    ("POST", "/api/v1/feedback/"): (
        "feedback.send",
        lambda w: {"project": w.project.slug, "span_id": w[Span].span_id, "comment": "x"},
        "writes",
    ),
    ("POST", "/api/v1/ingest/"): ("trace.ingest", _ingest_body, None),
    ("POST", "/v1/traces"): ("trace.ingest", _otlp_body, None),
    ("POST", "/api/v1/review-queues/"): ("queue.manage", lambda w: {"project": w.project.slug, "name": "Q2"}, "writes"),
    ("PATCH", "/api/v1/review-queues/{id}/"): ("queue.manage", lambda w: {"name": "renamed"}, "writes"),
    ("DELETE", "/api/v1/review-queues/{id}/"): ("queue.manage", None, "writes"),
    ("POST", "/api/v1/review-queues/{id}/items/"): (
        "queue.manage",
        lambda w: {"span_ids": [w.extra["loose_span"].span_id]},
        "writes",
    ),
    ("POST", "/api/v1/review-queues/{id}/next/"): ("queue.review", lambda w: {}, "writes"),
    ("POST", "/api/v1/review-queues/{queue_pk}/gold-questions/"): (
        "queue.gold_questions",
        lambda w: {"questions": [{"span_id": w[Span].span_id, "answers": {w[Score].config.name: 0.5}}]},
        "writes",
    ),
    ("PATCH", "/api/v1/review-queues/{queue_pk}/items/{item_pk}/"): (
        "queue.lead",
        lambda w: {"status": "pending"},
        "writes",
    ),
    ("POST", "/api/v1/review-queues/{queue_pk}/items/{item_pk}/skip/"): ("queue.review", lambda w: {}, "ok"),
    ("POST", "/api/v1/review-queues/{queue_pk}/items/{item_pk}/adjudication/"): (
        "queue.adjudicate",
        lambda w: {"scores": {w.extra["scoring"].name: {"value": 0.9}}, "note": "x"},
        "writes",
    ),
    ("POST", "/api/v1/review-queues/{queue_pk}/items/{item_pk}/submit/"): (
        "queue.review",
        lambda w: {"comment": "looks right"},
        "writes",
    ),
    ("POST", "/api/v1/score-configs/"): (
        "score_config.manage",
        lambda w: {"project": w.project.slug, "name": "new", "kind": "boolean"},
        "writes",
    ),
    ("PUT", "/api/v1/score-configs/{id}/"): (
        "score_config.manage",
        lambda w: {"name": "renamed", "kind": "continuous", "min_value": 0, "max_value": 1},
        "writes",
    ),
    ("PATCH", "/api/v1/score-configs/{id}/"): ("score_config.manage", lambda w: {"name": "renamed"}, "writes"),
    ("DELETE", "/api/v1/score-configs/{id}/"): ("score_config.manage", None, "writes"),
    ("POST", "/api/v1/score-configs/{id}/archive/"): ("score_config.manage", lambda w: {}, "writes"),
    ("POST", "/api/v1/score-configs/{id}/restore/"): ("score_config.manage", lambda w: {}, "ok"),
    ("POST", "/api/v1/share-links/{id}/revoke/"): ("share_link.manage", lambda w: {}, "writes"),
    ("POST", "/api/v1/trace-views/"): (
        "trace_view.edit",
        lambda w: {"project": w.project.slug, "name": "V2", "spec": SPEC},
        "writes",
    ),
    ("PUT", "/api/v1/trace-views/{id}/"): ("trace_view.edit", lambda w: {"name": "renamed", "spec": SPEC}, "writes"),
    ("PATCH", "/api/v1/trace-views/{id}/"): ("trace_view.edit", lambda w: {"description": "changed"}, "writes"),
    ("DELETE", "/api/v1/trace-views/{id}/"): ("trace_view.edit", None, "writes"),
    ("POST", "/api/v1/trace-views/{id}/make-default/"): (
        "trace_view.edit",
        lambda w: {"queue": w[ReviewQueue].pk},
        "writes",
    ),
    ("POST", "/api/v1/trace-views/{id}/share-links/"): (
        "share_link.manage",
        lambda w: {"trace": w[Trace].trace_id},
        "writes",
    ),
    ("POST", "/api/v1/members/"): (
        "member.manage",
        lambda w: {"project": w.project.slug, "username_or_email": "newcomer", "role": "reviewer"},
        "writes",
    ),
    ("PATCH", "/api/v1/members/{id}/"): ("member.manage", lambda w: {"role": "curator"}, "writes"),
    ("DELETE", "/api/v1/members/{id}/"): ("member.manage", None, "writes"),
    ("PUT", "/api/v1/retention-policy/"): (
        "retention.manage",
        lambda w: {"project": w.project.slug, "max_age_days": 7},
        "writes",
    ),
    ("DELETE", "/api/v1/retention-policy/"): ("retention.manage", lambda w: {"project": w.project.slug}, "writes"),
    ("POST", "/api/v1/retention-policy/runs/"): ("retention.run", lambda w: {"project": w.project.slug}, "writes"),
    ("POST", "/api/v1/trace-views/generate/"): (
        "trace_view.edit",
        lambda w: {"description": "a chat", "project": w.project.slug},
        None,
    ),
    ("POST", "/api/v1/scorers/"): (
        "score_config.manage",
        lambda w: {
            "project": w.project.slug,
            "name": "new-scorer",
            "kind": "deterministic",
            "config": w.extra["scoring"].pk,
            "definition": {"type": "contains"},
        },
        "writes",
    ),
    ("POST", "/api/v1/scorers/{id}/versions/"): (
        "score_config.manage",
        lambda w: {"definition": {"type": "contains"}},
        "writes",
    ),
    # A judge's new version from human labels (curator+); the world's scorer is deterministic, so no control.
    ("POST", "/api/v1/scorers/{scorer_pk}/versions/from-labels/"): ("score_config.manage", None, None),
    ("POST", "/api/v1/online-rules/"): (
        "score_config.manage",
        lambda w: {"project": w.project.slug, "scorer": w[Scorer].pk},
        "writes",
    ),
    ("PATCH", "/api/v1/online-rules/{id}/"): ("score_config.manage", lambda w: {"sample_rate": 0.5}, "writes"),
    ("DELETE", "/api/v1/online-rules/{id}/"): ("score_config.manage", None, "writes"),
    ("POST", "/api/v1/experiments/{experiment_id}/score/"): (
        "dataset.write",
        lambda w: {"scorer": w[Scorer].pk},
        "writes",
    ),
    ("POST", "/api/v1/experiments/{experiment_id}/runs/"): (
        "dataset.write",
        lambda w: {"messages": [{"role": "user", "content": "{{input.q}}"}]},
        "writes",
    ),
    ("POST", "/api/v1/experiments/{experiment_id}/runs/{id}/cancel/"): ("dataset.write", lambda w: {}, "writes"),
}
# Writes-nothing POSTs: any member may call them.
READ_POSTS = {("POST", "/api/v1/trace-views/preview/")}

ID_MODELS = {
    "/api/v1/experiments/{experiment_id}/runs/": RunJob,
    "/api/v1/scorers/": Scorer,
    "/api/v1/online-rules/": OnlineRule,
    "/api/v1/scoring-jobs/": ScoringJob,
    "/api/v1/dataset-jobs/": DatasetJob,
    "/api/v1/datasets/": Dataset,
    "/api/v1/experiments/": Experiment,
    "/api/v1/exports/": ExportJob,
    "/api/v1/export-schedules/": ExportSchedule,
    "/api/v1/export-destinations/": ExportDestination,
    "/api/v1/review-queues/": ReviewQueue,
    "/api/v1/score-configs/": ScoreConfig,
    "/api/v1/scores/": Score,
    "/api/v1/share-links/": ShareLink,
    "/api/v1/trace-views/": TraceView,
    "/api/v1/members/": Membership,
}


def _fill(path: str, w, *, missing: bool = False) -> str:
    if "{id}" in path:
        model = next(m for prefix, m in ID_MODELS.items() if path.startswith(prefix))
        path = path.replace("{id}", str(MISSING if missing else w[model].pk))
    values = {
        "{record_id}": "r1",
        "{name}": "prod",
        "{number}": "1",
        "{queue_pk}": w[ReviewQueue].pk,
        "{item_pk}": w[ReviewItem].pk,
        "{reviewer_pk}": w[Score].author_id,
        "{span_id}": w[Span].span_id,
        "{trace_id}": w[Trace].trace_id,
        "{experiment_id}": w[Experiment].pk,
        "{scorer_pk}": w[Scorer].pk,
    }
    for param, value in values.items():
        path = path.replace(
            param,
            ("missing-ref" if param in ("{record_id}", "{name}", "{span_id}", "{trace_id}") else str(MISSING))
            if missing
            else str(value),
        )
    assert "{" not in path, path
    return path


def _call(client, method: str, path: str, body, w=None):
    if path == "/v1/traces":  # OTLP names the project in the query string
        url = f"{path}?project={w.project.slug}" if w is not None else path
        return client.generic(method, url, json.dumps(body), content_type="application/json")
    if body is None:
        return getattr(client, method.lower())(path)
    return getattr(client, method.lower())(path, body, format="json")


@pytest.fixture
def worlds():
    a, b, c = (factories.ProjectFactory(slug=s) for s in ("alpha", "beta", "gamma"))
    author = factories.UserFactory(username="author", is_superuser=True)
    return {p.slug: build_world(p, author=author) for p in (a, b, c)}


def test_every_api_operation_is_in_the_matrix():
    assert len(OPERATIONS) >= 70
    for method, path in OPERATIONS:
        if method != "GET":
            assert (method, path) in WRITES or (method, path) in READ_POSTS, f"{method} {path}: add it to WRITES"
    for op in WRITES:
        assert op in OPERATIONS, f"{op} is no longer an API operation"
        assert op[1].startswith("/v1/") or op[1].startswith("/api/v1/")
        policy.action_role(WRITES[op][0])  # a known action


def _prepare(client, method, path, w):
    """Steps a real user takes first: a reviewer opens the item before skipping or submitting it;
    restoring needs an archived config."""
    if path.endswith("/skip/") or path.endswith("/submit/"):
        client.post(f"/api/v1/review-queues/{w[ReviewQueue].pk}/next/", {}, format="json")
    if path.endswith("/restore/") and "score-configs" in path:
        w[ScoreConfig].is_archived = True
        w[ScoreConfig].save(update_fields=["is_archived"])


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.CURATOR, Role.ADMIN])
@pytest.mark.parametrize("op", sorted(WRITES), ids=lambda op: f"{op[0]} {op[1]}")
def test_write_operation_by_role_in_own_project(worlds, op, role, client_as):
    method, path = op
    action, body, control = WRITES[op]
    w = worlds["alpha"]
    client = client_as(role, w.project, username=f"{role}-alpha")
    allowed = policy.role_allows(role, action)
    if allowed and control is None:
        return
    if allowed:
        _prepare(client, method, path, w)
    before = fingerprint()
    response = _call(client, method, _fill(path, w), body(w) if body else None, w)
    after = fingerprint()
    if allowed:
        assert response.status_code < 400, (op, role, response.status_code, response.content[:300])
        if control == "writes":
            assert changed(before, after), (op, role)
    else:
        assert response.status_code in (403, 404), (op, role, response.status_code, response.content[:300])
        assert changed(before, after) == [], (op, role)


@pytest.mark.parametrize("op", sorted(WRITES), ids=lambda op: f"{op[0]} {op[1]}")
def test_admin_of_a_writes_nothing_in_b_where_they_are_viewer(worlds, op, client_as):
    method, path = op
    _, body, _ = WRITES[op]
    user = member(worlds["alpha"].project, Role.ADMIN, "admin-a-viewer-b")
    member(worlds["beta"].project, Role.VIEWER, "admin-a-viewer-b")
    w = worlds["beta"]
    before = fingerprint()
    response = _call(client_as(user=user), method, _fill(path, w), body(w) if body else None, w)
    assert response.status_code in (403, 404), (op, response.status_code, response.content[:300])
    assert changed(before, fingerprint()) == [], op


PATH_OPS = [op for op in OPERATIONS if "{" in op[1]]


@pytest.mark.parametrize("op", PATH_OPS, ids=lambda op: f"{op[0]} {op[1]}")
def test_another_projects_object_answers_like_a_missing_one(worlds, op, client_as, api_client):
    """For a member of A (admin) and for A's key alike, C's objects and missing ids get the same answer."""
    method, path = op
    _, body, _ = WRITES.get(op, (None, None, None))
    user = member(worlds["alpha"].project, Role.ADMIN, "admin-alpha")
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {worlds['alpha'].extra['key']}")
    for client in (client_as(user=user), api_client):
        before = fingerprint()
        hidden = _call(client, method, _fill(path, worlds["gamma"]), body(worlds["gamma"]) if body else None)
        missing = _call(
            client, method, _fill(path, worlds["gamma"], missing=True), body(worlds["gamma"]) if body else None
        )
        assert hidden.status_code == missing.status_code == 404, (op, hidden.status_code, missing.status_code)
        assert hidden.json() == missing.json() or hidden.json().keys() == missing.json().keys(), op
        assert changed(before, fingerprint()) == [], op


GET_OPS = [op for op in OPERATIONS if op[0] == "GET"]
# Reads the table keeps for admins (`audit.read`, `member.manage`): a viewer is refused, the project's admin reads.
ADMIN_READS = {
    ("GET", "/api/v1/audit-events/"),
    ("GET", "/api/v1/audit-events/export/"),
    ("GET", "/api/v1/members/"),
    ("GET", "/api/v1/retention-policy/"),
    ("GET", "/api/v1/retention-policy/preview/"),
    ("GET", "/api/v1/retention-policy/runs/"),
}
# Reads kept for leads (the known answers of gold questions are the test): a viewer is refused, a curator reads.
LEAD_READS = {("GET", "/api/v1/review-queues/{queue_pk}/gold-questions/")}
# Judge alignment shows every reviewer's labels (blind queues included): curators and admins only; the
# world's scorer is deterministic and no human config is named, so the curator's answer is a 400.
LEAD_READS_REFUSED_INPUT = {("GET", "/api/v1/scorers/{scorer_pk}/alignment/")}


@pytest.mark.parametrize("op", GET_OPS, ids=lambda op: f"{op[0]} {op[1]}")
def test_a_viewer_reads_their_project(worlds, op, client_as):
    method, path = op
    w = worlds["alpha"]
    client = client_as(Role.VIEWER, w.project, username="viewer-alpha")
    admin_client = client_as(Role.ADMIN, w.project, username="admin-alpha")
    curator = client_as(Role.CURATOR, w.project, username="curator-alpha")
    before = fingerprint()
    response = _call(client, method, _fill(path, w) if "{" in path else path, None)
    if op in ADMIN_READS:
        assert response.status_code == 403, (op, response.status_code)
        assert policy.action_role("audit.read") == Role.ADMIN
        response = _call(admin_client, method, path, None)
        assert response.status_code == 200, (op, response.status_code)
    if op in LEAD_READS:
        assert response.status_code == 403, (op, response.status_code)
        assert policy.action_role("queue.gold_questions") == Role.CURATOR
        response = _call(curator, method, _fill(path, w), None)
        assert response.status_code == 200, (op, response.status_code)
    if op in LEAD_READS_REFUSED_INPUT:
        assert response.status_code == 403, (op, response.status_code)
        response = _call(curator, method, _fill(path, w), None)
        assert response.status_code == 400, (op, response.status_code)
    assert response.status_code not in (401, 403) and response.status_code < 500, (op, response.status_code)
    assert changed(before, fingerprint()) == [], op
