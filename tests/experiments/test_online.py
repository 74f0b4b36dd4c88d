"""Online rules: sampled scoring of incoming production spans through the ingest hook and Celery."""

from __future__ import annotations

import pytest

from apps.experiments.models import OnlineRule, ScorerFailure
from apps.experiments.online import span_sampled
from apps.projects.models import Role
from apps.reviews.models import Score
from apps.traces.models import Trace
from apps.traces.services import span_batch_ingest
from tests.llm_stub import StubLLM

from .scorer_fixtures import *  # noqa: F403 (fixtures, found by name)
from .scorer_fixtures import scorer_make

pytestmark = pytest.mark.django_db
POLITE = {"type": "contains", "params": {"value": "thank", "case_sensitive": False}}


@pytest.fixture
def eager(settings):
    """Tasks sent on commit run in this process (the broker is the edge here; the worker test is elsewhere)."""
    from config.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def _ingest(project, spans, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = span_batch_ingest(project=project, items=spans)
    assert not result.rejected
    return result


def _trace(n: int, output: str = "Thank you!", **root) -> list[dict]:
    return [
        {"trace_id": f"t{n}", "span_id": f"s{n}", "name": "chat", "type": "llm", "output": output, **root},
        {"trace_id": f"t{n}", "span_id": f"s{n}-tool", "parent_span_id": f"s{n}", "name": "search", "type": "tool"},
    ]


def _scored(version) -> set[str]:
    return set(Score.objects.filter(scorer_version=version).values_list("span__span_id", flat=True))


def test_a_sample_of_production_root_spans_is_scored(
    project, boolean_config, eager, django_capture_on_commit_callbacks
):
    version = scorer_make(project, boolean_config, POLITE)
    OnlineRule.objects.create(project=project, scorer=version.scorer, sample_rate=0.5)
    spans = [item for n in range(200) for item in _trace(n)]
    _ingest(project, spans, django_capture_on_commit_callbacks)
    expected = {f"s{n}" for n in range(200) if span_sampled(f"s{n}", 0.5)}
    assert _scored(version) == expected and 70 < len(expected) < 130
    assert set(Score.objects.filter(scorer_version=version).values_list("value", "source")) == {(1.0, "automated")}
    _ingest(project, spans, django_capture_on_commit_callbacks)  # the same batch again: same sample, no copies
    assert Score.objects.filter(scorer_version=version).count() == len(expected)


def test_rules_match_name_type_and_children(project, boolean_config, eager, django_capture_on_commit_callbacks):
    version = scorer_make(project, boolean_config, POLITE)
    OnlineRule.objects.create(project=project, scorer=version.scorer, span_type="tool", root_only=False)
    other = scorer_make(project, boolean_config, POLITE, name="by-name")
    OnlineRule.objects.create(project=project, scorer=other.scorer, span_name="nope")
    _ingest(project, _trace(1) + _trace(2), django_capture_on_commit_callbacks)
    assert _scored(version) == {"s1-tool", "s2-tool"}
    assert _scored(other) == set()


def test_experiment_traces_and_inactive_rules_are_not_scored(
    project, boolean_config, eager, django_capture_on_commit_callbacks
):
    version = scorer_make(project, boolean_config, POLITE)
    OnlineRule.objects.create(project=project, scorer=version.scorer)
    Trace.objects.create(project=project, trace_id="t1", origin="experiment", start_time="2026-01-01T00:00Z")
    paused = scorer_make(project, boolean_config, POLITE, name="paused")
    OnlineRule.objects.create(project=project, scorer=paused.scorer, is_active=False)
    _ingest(project, _trace(1) + _trace(2), django_capture_on_commit_callbacks)
    assert _scored(version) == {"s2"}
    assert _scored(paused) == set()


def test_a_pinned_version_is_used_not_the_latest(project, boolean_config, eager, django_capture_on_commit_callbacks):
    from apps.experiments.scorers.versions import scorer_version_create

    first = scorer_make(project, boolean_config, POLITE)
    OnlineRule.objects.create(project=project, scorer=first.scorer, scorer_version=first)
    scorer_version_create(scorer=first.scorer, definition={"type": "contains", "params": {"value": "sorry"}})
    _ingest(project, _trace(1), django_capture_on_commit_callbacks)
    assert Score.objects.get(span__span_id="s1").scorer_version == first


def test_judge_failures_on_production_spans_are_recorded(
    project, settings, categorical_config, eager, django_capture_on_commit_callbacks
):
    version = scorer_make(project, categorical_config, {"rubric": "Is it right?"}, kind="llm_judge")
    OnlineRule.objects.create(project=project, scorer=version.scorer)
    with StubLLM(answer={"label": "brilliant"}) as stub:
        stub.configure(settings, "sk")
        _ingest(project, _trace(1), django_capture_on_commit_callbacks)
    failure = ScorerFailure.objects.get(scorer_version=version)
    assert failure.span.span_id == "s1" and failure.result is None
    assert "Unknown option 'brilliant'" in failure.error


def test_a_queue_that_is_down_is_recorded_as_failures(
    project, boolean_config, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.experiments import tasks

    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.online_score_task, "apply_async", down)
    version = scorer_make(project, boolean_config, POLITE)
    OnlineRule.objects.create(project=project, scorer=version.scorer)
    _ingest(project, _trace(1), django_capture_on_commit_callbacks)
    assert "unreachable" in ScorerFailure.objects.get(scorer_version=version, span__span_id="s1").error


def test_online_rules_api_with_bad_input_and_isolation(client_as, project, other_project, boolean_config):
    version = scorer_make(project, boolean_config, POLITE)
    admin = client_as(Role.ADMIN, project)
    created = admin.post("/api/v1/online-rules/", {"scorer": version.scorer_id, "sample_rate": 0.1}, format="json")
    assert created.status_code == 201, created.content
    rule = created.json()
    assert (rule["sample_rate"], rule["root_only"], rule["scorer_version"]) == (0.1, True, None)
    changed = admin.patch(f"/api/v1/online-rules/{rule['id']}/", {"span_type": "llm"}, format="json")
    assert changed.status_code == 200 and changed.json()["span_type"] == "llm"
    for body, field in [
        ({"scorer": version.scorer_id, "sample_rate": 2}, "sample_rate"),
        ({"scorer": version.scorer_id, "span_type": "robot"}, "span_type"),
        ({"sample_rate": 0.5}, "scorer"),
    ]:
        response = admin.post("/api/v1/online-rules/", body, format="json")
        assert response.status_code == 400 and field in response.json()["fields"], response.content
    outsider = client_as(Role.ADMIN, other_project)
    assert outsider.get(f"/api/v1/online-rules/{rule['id']}/").status_code == 404
    assert outsider.get("/api/v1/online-rules/").json()["results"] == []
    foreign = outsider.post("/api/v1/online-rules/", {"scorer": version.scorer_id}, format="json")
    assert foreign.status_code == 400 and "scorer" in foreign.json()["fields"]
    assert outsider.delete(f"/api/v1/online-rules/{rule['id']}/").status_code == 404
    assert admin.delete(f"/api/v1/online-rules/{rule['id']}/").status_code == 204
