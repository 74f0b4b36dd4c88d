import pytest

from apps.projects.models import Role
from apps.reviews.models import Comment, Correction, Feedback, Score, ScoreConfig, TagEvent
from apps.reviews.services.tags import tag_add
from apps.traces.models import SpanTag
from tests import factories

pytestmark = pytest.mark.django_db

FEEDBACK = "/api/v1/feedback/"
CONFIGS = "/api/v1/score-configs/"


@pytest.fixture
def span(project):
    trace = factories.TraceFactory(project=project, trace_id="t-1", root_span_id="root-1")
    root = factories.SpanFactory(trace=trace, span_id="root-1", parent_span_id="")
    factories.SpanFactory(trace=trace, span_id="child-1", parent_span_id="root-1")
    return root


@pytest.fixture
def configs(project):
    return {
        "helpful": factories.ScoreConfigFactory(project=project, name="helpful", min_value=0, max_value=10),
        "correct": factories.ScoreConfigFactory(project=project, name="correct", categorical=True),
        "thumbs": factories.ScoreConfigFactory(project=project, name="thumbs", boolean=True),
        "notes": factories.ScoreConfigFactory(project=project, name="notes", text=True),
    }


def nothing_written():
    return not (
        Score.objects.exists() or Comment.objects.exists() or Correction.objects.exists() or SpanTag.objects.exists()
    )


# ------------------------------------------------------------------ score configs API


def test_score_config_crud_with_a_write_key(project, key_client):
    client = key_client(project)
    created = client.post(
        CONFIGS,
        {
            "name": "tone",
            "kind": "categorical",
            "description": "Be *kind*",
            "options": [{"label": "warm", "value": 1}, {"label": "cold", "value": 0}],
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["project"] == "acme" and body["options"][0] == {"label": "warm", "value": 1}
    assert body["description_html"] == "<p>Be <em>kind</em></p>"
    pk = body["id"]
    changed = client.patch(f"{CONFIGS}{pk}/", {"multi_select": True, "order": 3}, format="json")
    assert changed.status_code == 200 and changed.json()["multi_select"] is True
    listed = client.get(CONFIGS).json()
    assert [c["name"] for c in listed] == ["tone"]
    assert client.post(f"{CONFIGS}{pk}/archive/").json()["is_archived"] is True
    assert client.post(f"{CONFIGS}{pk}/restore/").json()["is_archived"] is False
    assert client.delete(f"{CONFIGS}{pk}/").status_code == 204


def test_score_config_bad_input_names_the_field(project, key_client):
    client = key_client(project)
    response = client.post(
        CONFIGS, {"name": "range", "kind": "continuous", "min_value": 5, "max_value": 1}, format="json"
    )
    assert response.status_code == 400 and "max_value" in response.json()["fields"]
    response = client.post(
        CONFIGS,
        {"name": "opts", "kind": "categorical", "options": [{"label": "a", "value": 1}, {"label": "a", "value": 2}]},
        format="json",
    )
    assert response.status_code == 400 and "options.1.label" in response.json()["fields"]


def test_deleting_a_config_with_scores_says_archive(project, key_client, span, configs):
    client = key_client(project)
    client.post(FEEDBACK, {"span_id": "root-1", "scores": {"thumbs": True}}, format="json")
    response = client.delete(f"{CONFIGS}{configs['thumbs'].pk}/")
    assert response.status_code == 400 and "archive" in response.json()["error"]
    assert ScoreConfig.objects.filter(pk=configs["thumbs"].pk).exists()


def test_score_config_writes_need_the_admin_role_for_sessions(project, member, api_client):
    reviewer = member(project, role=Role.REVIEWER)
    api_client.force_login(reviewer)
    assert api_client.get(CONFIGS).status_code == 200
    response = api_client.post(CONFIGS, {"name": "x", "kind": "boolean"}, format="json")
    assert response.status_code == 403
    admin = member(project, role=Role.ADMIN)
    api_client.force_login(admin)
    assert api_client.post(CONFIGS, {"name": "x", "kind": "boolean"}, format="json").status_code == 201
    config = ScoreConfig.objects.get(name="x")
    api_client.force_login(reviewer)
    assert api_client.patch(f"{CONFIGS}{config.pk}/", {"order": 2}, format="json").status_code == 403


def test_score_configs_of_another_project_are_404(project, other_project, key_client):
    theirs = factories.ScoreConfigFactory(project=other_project)
    client = key_client(project)
    assert client.get(CONFIGS).json() == []
    for response in (
        client.get(f"{CONFIGS}{theirs.pk}/"),
        client.patch(f"{CONFIGS}{theirs.pk}/", {}, format="json"),
        client.delete(f"{CONFIGS}{theirs.pk}/"),
        client.post(f"{CONFIGS}{theirs.pk}/archive/"),
    ):
        assert response.status_code == 404
    missing = client.get(f"{CONFIGS}999999/")
    assert client.get(f"{CONFIGS}{theirs.pk}/").json() == missing.json()


# ------------------------------------------------------------------ feedback


def test_feedback_writes_every_kind_of_annotation(project, key_client, span, configs):
    client = key_client(project)
    response = client.post(
        FEEDBACK,
        {
            "span_id": "root-1",
            "scores": {"helpful": 7, "correct": "partially", "thumbs": False, "notes": "short"},
            "expected": {"answer": "30 days"},
            "comment": "Close, but wrong window.",
            "tags": ["refund", "vip"],
            "metadata": {"ticket": "T-1"},
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["source"] == "api" and body["tags_added"] == ["refund", "vip"]
    assert {s["config"]: s["value"] for s in body["scores"]} == {
        "helpful": 7,
        "correct": 0.5,
        "thumbs": 0.0,
        "notes": None,
    }
    span.refresh_from_db()
    assert span.expected == {"answer": "30 days"} and span.tags == ["refund", "vip"]
    assert span.annotation_metadata == {"ticket": "T-1"}
    assert Comment.objects.get(span=span).source == "api"


def test_feedback_by_trace_id_lands_on_the_root_span(project, key_client, span, configs):
    response = key_client(project).post(FEEDBACK, {"trace_id": "t-1", "scores": {"thumbs": True}}, format="json")
    assert response.status_code == 201
    assert Score.objects.get().span == span


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"scores": {"helpful": 11}}, "scores.helpful"),
        ({"scores": {"correct": "maybe"}}, "scores.correct"),
        ({"scores": {"thumbs": "yes"}}, "scores.thumbs"),
        ({"scores": {"helpful": "high"}}, "scores.helpful"),
        ({"scores": {"unknown": 1}}, "scores.unknown"),
        ({"scores": {"notes": "x" * 51}}, "scores.notes"),
        ({"scores": "thumbs up"}, "scores"),
        ({"tags": ["t" * 201]}, "tags.0"),
        ({"tags": "refund"}, "tags"),
        ({"remove_tags": [""]}, "remove_tags.0"),
        ({"metadata": ["k"]}, "metadata"),
        ({"comment": 12}, "comment"),
        ({"source": "human"}, "source"),
        ({"source": "robot"}, "source"),
        ({"feedback_id": ""}, "feedback_id"),
        ({"score": {"thumbs": True}}, "score"),
    ],
)
def test_feedback_bad_field_is_400_naming_it_and_writes_nothing(project, key_client, span, configs, payload, field):
    body = {"span_id": "root-1", "comment": "fine", "tags": ["ok"], "scores": {"thumbs": True}, **payload}
    response = key_client(project).post(FEEDBACK, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["fields"], response.json()
    assert nothing_written()


def test_feedback_on_an_archived_config_is_refused(project, key_client, span, configs):
    configs["thumbs"].is_archived = True
    configs["thumbs"].save()
    response = key_client(project).post(FEEDBACK, {"span_id": "root-1", "scores": {"thumbs": True}}, format="json")
    assert response.status_code == 400 and "archived" in response.json()["fields"]["scores.thumbs"][0]


def test_feedback_needs_a_span_and_something_to_record(project, key_client, span, configs):
    client = key_client(project)
    assert "span_id" in client.post(FEEDBACK, {"scores": {"thumbs": True}}, format="json").json()["fields"]
    assert client.post(FEEDBACK, {"span_id": "root-1"}, format="json").status_code == 400
    assert client.post(FEEDBACK, ["not", "an", "object"], format="json").status_code == 400


def test_feedback_for_another_projects_span_is_404_like_a_missing_one(
    project, other_project, key_client, span, configs
):
    theirs = factories.SpanFactory(
        trace=factories.TraceFactory(project=other_project, trace_id="t-x"), span_id="their-span"
    )
    factories.ScoreConfigFactory(project=other_project, name="thumbs", boolean=True)
    client = key_client(project)
    other = client.post(FEEDBACK, {"span_id": theirs.span_id, "scores": {"thumbs": True}}, format="json")
    missing = client.post(FEEDBACK, {"span_id": "nope", "scores": {"thumbs": True}}, format="json")
    assert other.status_code == missing.status_code == 404 and other.json() == missing.json()
    assert client.post(FEEDBACK, {"trace_id": "t-x", "scores": {"thumbs": True}}, format="json").status_code == 404
    # The span's trace must match when both are given.
    assert (
        client.post(
            FEEDBACK, {"span_id": "root-1", "trace_id": "t-x", "scores": {"thumbs": True}}, format="json"
        ).status_code
        == 404
    )
    assert not Score.objects.exists()


def test_tags_are_removed_through_the_api_with_who_and_when(project, key_client, span, member):
    tag_add(span=span, name="refund", user=member(project))
    tag_add(span=span, name="keep")
    client = key_client(project)
    response = client.post(FEEDBACK, {"span_id": "root-1", "remove_tags": ["refund", "never-there"]}, format="json")
    assert response.status_code == 201 and response.json()["tags_removed"] == ["refund"]
    span.refresh_from_db()
    span.trace.refresh_from_db()
    assert span.tags == ["keep"] and span.trace.tags == ["keep"]
    event = TagEvent.objects.filter(action="remove").get()
    assert (event.tag_name, event.source, event.user) == ("refund", "api", None)
    annotations = client.get("/api/v1/spans/root-1/annotations/").json()
    assert [(e["name"], e["action"]) for e in annotations["tag_history"]] == [
        ("refund", "add"),
        ("keep", "add"),
        ("refund", "remove"),
    ]


def test_feedback_id_makes_retries_idempotent(project, key_client, span, configs):
    client = key_client(project)
    body = {"span_id": "root-1", "feedback_id": "fb-1", "scores": {"thumbs": False}, "comment": "bad"}
    first = client.post(FEEDBACK, body, format="json")
    again = client.post(FEEDBACK, body, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Score.objects.count() == 1 and Comment.objects.count() == 1
    changed = client.post(FEEDBACK, {**body, "comment": "different"}, format="json")
    assert changed.status_code == 409 and "feedback_id" in changed.json()["fields"]
    # Ids are per project: the same id sent by another project's key records that project's feedback.
    third = factories.ProjectFactory(slug="third")
    factories.SpanFactory(trace=factories.TraceFactory(project=third, trace_id="t-3"), span_id="root-1")
    factories.ScoreConfigFactory(project=third, name="thumbs", boolean=True)
    theirs = key_client(third).post(FEEDBACK, body, format="json")
    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs, theirs.content
    assert theirs.json()["trace_id"] == "t-3"
    assert Comment.objects.count() == 2 and Comment.objects.filter(span__project=third).count() == 1
    assert Feedback.objects.filter(feedback_id="fb-1").count() == 2


def test_session_member_feedback_is_human_by_default(project, member, api_client, span, configs):
    user = member(project)
    api_client.force_login(user)
    response = api_client.post(FEEDBACK, {"span_id": "root-1", "scores": {"helpful": 3}}, format="json")
    assert response.status_code == 201 and response.json()["source"] == "human"
    assert Score.objects.get().author == user


# ------------------------------------------------------------------ the feedback-only key


def test_feedback_only_key_can_send_end_user_feedback_and_nothing_else(project, key_client, span, configs):
    client = key_client(project, scopes=("feedback",))
    response = client.post(FEEDBACK, {"span_id": "root-1", "scores": {"thumbs": False}}, format="json")
    assert response.status_code == 201 and response.json()["source"] == "end_user"
    assert (
        client.post(
            FEEDBACK, {"span_id": "root-1", "scores": {"thumbs": True}, "source": "api"}, format="json"
        ).status_code
        == 400
    )
    refused = [
        client.get("/api/v1/traces/"),
        client.get("/api/v1/spans/"),
        client.get("/api/v1/traces/t-1/"),
        client.post("/api/v1/ingest/", {"spans": []}, format="json"),
        client.get(CONFIGS),
        client.post(CONFIGS, {"name": "x", "kind": "boolean"}, format="json"),
        client.get("/api/v1/scores/"),
        client.get("/api/v1/spans/root-1/annotations/"),
        client.get("/api/v1/traces/t-1/annotations/"),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    # Every other app's endpoints refuse it too (a route that disappears fails here: update the list).
    from django.urls import resolve

    for path in (
        "/api/v1/datasets/",
        "/api/v1/exports/",
        "/api/v1/review-queues/",
        "/api/v1/trace-views/",
        "/api/v1/share-links/",
    ):
        assert resolve(path).url_name.endswith("-list"), path
        assert client.get(path).status_code == 403, path
        assert client.post(path, {}, format="json").status_code == 403, path
    otlp = client.post("/v1/traces", b"{}", content_type="application/json")
    assert otlp.status_code in (401, 403)


def test_keys_without_feedback_or_write_cannot_send_feedback(project, key_client, span, configs):
    for scopes in (("read",), ("ingest",)):
        response = key_client(project, scopes=scopes).post(
            FEEDBACK, {"span_id": "root-1", "scores": {"thumbs": True}}, format="json"
        )
        assert response.status_code == 403
    assert not Score.objects.exists()


# ------------------------------------------------------------------ CORS


def test_cors_preflight_and_headers_only_for_listed_origins(project, other_project, key_client, span, configs):
    project.allowed_origins = ["https://shop.example.com"]
    project.save()
    other_project.allowed_origins = ["https://other.example.com"]
    other_project.save()
    client = key_client(project, scopes=("feedback",))
    preflight = client.options(
        FEEDBACK,
        HTTP_ORIGIN="https://shop.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight["Access-Control-Allow-Headers"]
    evil = client.options(FEEDBACK, HTTP_ORIGIN="https://evil.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert evil.status_code == 403 and "Access-Control-Allow-Origin" not in evil

    ok = client.post(
        FEEDBACK,
        {"span_id": "root-1", "scores": {"thumbs": True}},
        format="json",
        HTTP_ORIGIN="https://shop.example.com",
    )
    assert ok.status_code == 201 and ok["Access-Control-Allow-Origin"] == "https://shop.example.com"
    bad = client.post(
        FEEDBACK, {"span_id": "root-1", "scores": {"thumbs": 5}}, format="json", HTTP_ORIGIN="https://shop.example.com"
    )
    assert bad.status_code == 400 and bad["Access-Control-Allow-Origin"] == "https://shop.example.com"
    # Another project's origin gets no CORS header with this project's key.
    foreign = client.post(
        FEEDBACK,
        {"span_id": "root-1", "scores": {"thumbs": True}},
        format="json",
        HTTP_ORIGIN="https://other.example.com",
    )
    assert foreign.status_code == 201 and "Access-Control-Allow-Origin" not in foreign
    assert "*" not in str(ok.headers.get("Access-Control-Allow-Origin"))
    # Other endpoints never answer CORS.
    other = key_client(project).get(CONFIGS, HTTP_ORIGIN="https://shop.example.com")
    assert "Access-Control-Allow-Origin" not in other


# ------------------------------------------------------------------ read endpoints


def test_span_and_trace_annotations_read_endpoints(project, other_project, key_client, span, configs, member):
    client = key_client(project)
    client.post(
        FEEDBACK,
        {
            "span_id": "root-1",
            "scores": {"helpful": 4, "notes": "n"},
            "comment": "c",
            "expected": "fixed",
            "tags": ["x"],
            "metadata": {"k": "v"},
        },
        format="json",
    )
    client.post(FEEDBACK, {"span_id": "root-1", "scores": {"helpful": 8}}, format="json")
    body = client.get("/api/v1/spans/root-1/annotations/").json()
    assert body["span_id"] == "root-1" and body["trace_id"] == "t-1"
    helpful = next(s for s in body["summary"] if s["config"] == "helpful")
    assert helpful["count"] == 2 and helpful["mean"] == 6
    assert body["comments"][0]["text"] == "c" and body["corrections"][0]["value"] == "fixed"
    assert body["tags"][0]["name"] == "x" and body["metadata"] == {"k": "v"} and body["expected"] == "fixed"
    assert client.get("/api/v1/traces/t-1/annotations/").json()["span_id"] == "root-1"
    scores = client.get("/api/v1/scores/", {"config": "helpful"}).json()["results"]
    assert sorted(s["value"] for s in scores) == [4, 8]
    # Another project's span is 404 like a missing one.
    factories.SpanFactory(trace=factories.TraceFactory(project=other_project), span_id="theirs")
    theirs = client.get("/api/v1/spans/theirs/annotations/")
    missing = client.get("/api/v1/spans/missing/annotations/")
    assert theirs.status_code == missing.status_code == 404 and theirs.json() == missing.json()
    assert key_client(other_project).get("/api/v1/scores/").json()["results"] == []


def test_a_feedback_only_key_removes_only_tags_end_users_added(project, key_client, span, member):
    tag_add(span=span, name="reviewed", user=member(project))
    client = key_client(project, scopes=("feedback",))
    assert client.post(FEEDBACK, {"span_id": "root-1", "tags": ["confusing"]}, format="json").status_code == 201
    response = client.post(FEEDBACK, {"span_id": "root-1", "remove_tags": ["reviewed", "confusing"]}, format="json")
    assert response.status_code == 201 and response.json()["tags_removed"] == ["confusing"]
    span.refresh_from_db()
    assert span.tags == ["reviewed"]


def test_trace_detail_api_carries_each_spans_annotations(project, key_client):
    from apps.reviews.models import ScoreConfig
    from apps.reviews.services.comments import comment_add
    from apps.reviews.services.scores import score_record
    from tests.factories import SpanFactory, TraceFactory

    trace = TraceFactory(project=project, trace_id="t-ann")
    span = SpanFactory(trace=trace, span_id="s-ann")
    config = ScoreConfig.objects.create(project=project, name="thumbs", kind="boolean")
    score_record(span=span, config=config, value=True, source="api")
    comment_add(span=span, text="needs a source")

    body = key_client(project, scopes=["read"]).get("/api/v1/traces/t-ann/").json()
    (root,) = body["spans"]
    assert root["annotations"]["scores"][0]["config"] == "thumbs"
    assert root["annotations"]["comments"][0]["text"] == "needs a source"


def test_documented_score_filters(project, key_client, span, configs, member):
    """docs/api.md `GET /api/v1/scores/`: config, source, span_id, trace_id, author, label, value_gte,
    value_lte, created_after, created_before."""
    from apps.reviews.services.scores import score_record

    child = factories.SpanFactory(trace=span.trace, span_id="child-2", parent_span_id="root-1")
    rita = member(project, username="rita")
    score_record(span=span, config=configs["helpful"], value=8, author=rita)
    score_record(span=child, config=configs["helpful"], value=2, source="api")
    score_record(span=span, config=configs["correct"], label="partially", source="automated")
    client = key_client(project, scopes=("read",))

    def found(**params):
        response = client.get("/api/v1/scores/", params)
        assert response.status_code == 200, response.json()
        return sorted((s["config"], s["value"], s["source"]) for s in response.json()["results"])

    helpful_rita, helpful_api, correct = (
        ("helpful", 8.0, "human"),
        ("helpful", 2.0, "api"),
        ("correct", 0.5, "automated"),
    )
    assert found(config="helpful") == sorted([helpful_rita, helpful_api])
    assert found(source="automated") == [correct]
    assert found(span_id="child-2") == [helpful_api]
    assert found(trace_id=span.trace.trace_id) == sorted([helpful_rita, helpful_api, correct])
    assert found(trace_id="nope") == []
    assert found(author="rita") == [helpful_rita]
    assert found(label="partially") == [correct]
    assert found(value_gte=5) == [helpful_rita]
    assert found(value_lte=5) == sorted([helpful_api, correct])
    assert found(created_after="2999-01-01T00:00:00Z") == []
    assert len(found(created_before="2999-01-01T00:00:00Z")) == 3
    bad = client.get("/api/v1/scores/", {"value_gte": "lots"})
    assert bad.status_code == 400 and "value_gte" in bad.json()["fields"]
