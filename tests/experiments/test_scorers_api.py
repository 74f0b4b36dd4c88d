"""`/api/v1/scorers/`, versions, scoring an experiment and polling the job, and isolation across projects."""

from __future__ import annotations

import pytest

from apps.experiments.models import ScorerVersion, ScoringJob
from apps.experiments.scoring import scoring_job_run
from apps.projects.models import Role
from apps.reviews.models import Score
from tests import factories

from .scorer_fixtures import *  # noqa: F403 (fixtures, found by name)
from .scorer_fixtures import results_add, scorer_make

pytestmark = pytest.mark.django_db
EXACT = {"type": "exact_match", "params": {"case_sensitive": False}}


@pytest.fixture
def admin(client_as, project):
    return client_as(Role.ADMIN, project)


def _create(client, config, definition=EXACT, **extra):
    body = {"name": "exact", "kind": "deterministic", "config": config.pk, "definition": definition, **extra}
    return client.post("/api/v1/scorers/", body, format="json")


def test_create_list_retrieve_a_scorer(admin, boolean_config):
    response = _create(admin, boolean_config, description="Exact answer")
    assert response.status_code == 201, response.content
    scorer = response.json()
    assert scorer["latest_version"] == 1 and scorer["latest"]["number"] == 1
    assert scorer["latest"]["definition"] == EXACT and len(scorer["latest"]["definition_hash"]) == 64
    assert scorer["latest"]["config"] == boolean_config.pk
    assert [s["name"] for s in admin.get("/api/v1/scorers/").json()["results"]] == ["exact"]
    assert admin.get(f"/api/v1/scorers/{scorer['id']}/").json()["description"] == "Exact answer"


def test_a_new_definition_is_a_new_version_and_the_same_one_is_not(admin, boolean_config):
    scorer = _create(admin, boolean_config).json()
    url = f"/api/v1/scorers/{scorer['id']}/versions/"
    same = admin.post(url, {"definition": {"params": {"case_sensitive": False}, "type": "exact_match"}}, format="json")
    assert same.status_code == 201 and same.json()["number"] == 1
    new = admin.post(url, {"definition": {"type": "contains"}, "note": "looser"}, format="json")
    assert new.status_code == 201 and new.json()["number"] == 2 and new.json()["note"] == "looser"
    assert [v["number"] for v in admin.get(url).json()] == [2, 1]
    first = ScorerVersion.objects.get(scorer_id=scorer["id"], number=1)
    assert first.definition == EXACT  # versions are immutable


@pytest.mark.parametrize(
    "change, field",
    [
        ({"definition": {"type": "regex", "params": {"pattern": "(["}}}, "definition.params.pattern"),
        ({"kind": "oracle"}, "kind"),
        ({"config": 999999}, "config"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_scorers_are_400_naming_the_field(admin, boolean_config, change, field):
    body = {"name": "s", "kind": "deterministic", "config": boolean_config.pk, "definition": EXACT, **change}
    response = admin.post("/api/v1/scorers/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]


def test_a_taken_name_is_409(admin, boolean_config):
    assert _create(admin, boolean_config).status_code == 201
    response = _create(admin, boolean_config)
    assert response.status_code == 409 and "name" in response.json()["fields"]


def test_only_admins_configure_scorers(client_as, project, boolean_config):
    response = _create(client_as(Role.CURATOR, project), boolean_config)
    assert response.status_code == 403


def test_score_an_experiment_and_poll_the_job(
    admin, project, qa_experiment, boolean_config, django_capture_on_commit_callbacks
):
    results_add(qa_experiment, {"q1": "30 DAYS", "q2": "free", "q3": "never"})
    scorer = _create(admin, boolean_config).json()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = admin.post(f"/api/v1/experiments/{qa_experiment.pk}/score/", {"scorer": scorer["id"]}, format="json")
    assert response.status_code == 202 and len(callbacks) == 1  # sent to Celery on commit
    job = response.json()
    assert (job["status"], job["total"], job["version"]) == ("created", 3, 1)
    scoring_job_run(job_id=job["id"])  # what the worker does with the task
    polled = admin.get(f"/api/v1/scoring-jobs/{job['id']}/").json()
    assert (polled["status"], polled["done"], polled["failed"]) == ("completed", 3, 0)
    values = Score.objects.filter(scorer_version__scorer_id=scorer["id"]).values_list("value", flat=True)
    assert sorted(values) == [0.0, 1.0, 1.0]


def test_scoring_with_a_version_that_does_not_exist_is_400(admin, qa_experiment, boolean_config):
    scorer = _create(admin, boolean_config).json()
    url = f"/api/v1/experiments/{qa_experiment.pk}/score/"
    response = admin.post(url, {"scorer": scorer["id"], "version": 7}, format="json")
    assert response.status_code == 400 and "version" in response.json()["fields"]
    assert admin.post(url, {"scorer": 999999}, format="json").json()["fields"].keys() == {"scorer"}
    assert not ScoringJob.objects.exists()


def test_another_projects_scorers_and_experiments_are_invisible(
    client_as, project, other_project, qa_experiment, boolean_config
):
    version = scorer_make(project, boolean_config, EXACT)
    outsider = client_as(Role.ADMIN, other_project)
    assert outsider.get("/api/v1/scorers/").json()["results"] == []
    assert outsider.get(f"/api/v1/scorers/{version.scorer_id}/").status_code == 404
    assert outsider.get(f"/api/v1/scorers/{version.scorer_id}/versions/").status_code == 404
    versions = outsider.post(f"/api/v1/scorers/{version.scorer_id}/versions/", {"definition": EXACT}, format="json")
    assert versions.status_code == 404
    url = f"/api/v1/experiments/{qa_experiment.pk}/score/"
    assert outsider.post(url, {"scorer": version.scorer_id}, format="json").status_code == 404
    # their own experiment cannot be scored with this project's scorer either
    other_config = factories.ScoreConfigFactory(project=other_project, boolean=True)
    mine = scorer_make(other_project, other_config, EXACT, name="theirs")
    assert admin_sees_nothing_of(outsider, mine.scorer_id, version.scorer_id)
    # and a config of another project cannot be named
    response = _create(outsider, boolean_config)
    assert response.status_code == 400 and "config" in response.json()["fields"]


def admin_sees_nothing_of(client, own_id: int, foreign_id: int) -> bool:
    ids = [s["id"] for s in client.get("/api/v1/scorers/").json()["results"]]
    return ids == [own_id] and foreign_id not in ids


def test_a_key_with_write_scope_can_create_and_score(key_client, project, qa_experiment, boolean_config):
    client = key_client(project)
    scorer = _create(client, boolean_config)
    assert scorer.status_code == 201
    job = client.post(f"/api/v1/experiments/{qa_experiment.pk}/score/", {"scorer": scorer.json()["id"]}, format="json")
    assert job.status_code == 202
    read_only = key_client(project, scopes=("read",))
    assert _create(read_only, boolean_config, name="other").status_code == 403


def test_a_score_config_a_scorer_writes_cannot_be_deleted_and_says_why(admin, boolean_config):
    assert _create(admin, boolean_config).status_code == 201
    response = admin.delete(f"/api/v1/score-configs/{boolean_config.pk}/")
    assert response.status_code == 400, response.content
    assert "config" in response.json()["fields"] and "scorer" in response.json()["error"]
    assert admin.get(f"/api/v1/score-configs/{boolean_config.pk}/").status_code == 200
