"""The admin's scorer, online rule and job pages: scoped to the user's projects, rules validated as in the API."""

from __future__ import annotations

import pytest

from apps.experiments.models import OnlineRule, RunJob
from apps.projects.models import Role

from .scorer_fixtures import *  # noqa: F403 (fixtures, found by name)
from .scorer_fixtures import scorer_make

pytestmark = pytest.mark.django_db
EXACT = {"type": "exact_match"}


def test_pages_list_only_the_users_projects(client_as, project, other_project, boolean_config, qa_experiment):
    from tests import factories

    mine = scorer_make(project, boolean_config, EXACT, name="mine-exact")
    theirs = scorer_make(
        other_project, factories.ScoreConfigFactory(project=other_project, boolean=True), EXACT, name="their-exact"
    )
    RunJob.objects.create(experiment=qa_experiment, total=3)
    client = client_as(Role.ADMIN, project)
    page = client.get("/admin/experiments/scorer/").content.decode()
    assert "mine-exact" in page and "their-exact" not in page
    assert client.get(f"/admin/experiments/scorer/{mine.scorer_id}/change/").status_code == 200
    assert client.get(f"/admin/experiments/scorer/{theirs.scorer_id}/change/").status_code in (302, 404)
    assert client.get("/admin/experiments/runjob/").status_code == 200
    assert client.get("/admin/experiments/scorer/add/").status_code == 403


def test_an_online_rule_is_validated_like_the_api(client_as, project, boolean_config):
    version = scorer_make(project, boolean_config, EXACT)
    client = client_as(Role.ADMIN, project)
    form = {"project": project.pk, "scorer": version.scorer_id, "sample_rate": "1.5", "span_type": ""}
    bad = client.post("/admin/experiments/onlinerule/add/", {**form, "root_only": "on", "is_active": "on"})
    assert bad.status_code == 200 and "A number from 0 to 1." in bad.content.decode()
    good = client.post("/admin/experiments/onlinerule/add/", {**form, "sample_rate": "0.2", "is_active": "on"})
    assert good.status_code == 302
    assert OnlineRule.objects.get().sample_rate == 0.2
