"""The admin compare and alignment pages: figures, escaped trace content, filters, links, the judge
version button, isolation and bad input."""

import pytest

from apps.experiments.models import ScorerVersion
from apps.projects.models import Role
from apps.reviews.services.score_configs import score_config_create
from tests import factories

from .compare_fixtures import dataset_version, experiment, judge, judged_span, result, scored_pair

URL = "/admin/experiments/experiment/compare/"


@pytest.fixture
def config(project):
    return factories.ScoreConfigFactory(project=project, name="correct")


def test_compare_page_shows_figures_diff_and_trace_links(client_as, project, config):
    a, b = scored_pair(project, config, [0.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    page = client_as(Role.VIEWER, project).get(URL, {"ids": f"{a.pk},{b.pk}"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "data-summary" in html and "<strong>0.667</strong>" in html
    assert "Δ 0.000" in html and "1 regressed" in html and "1 improved" in html
    assert "<ins> changed</ins>" in html
    assert f'href="/admin/traces/trace/by-id/t-{b.pk}-r00/?span=s-{b.pk}-r00"' in html
    assert f"?ids={a.pk}%2C{b.pk}&amp;config=correct&amp;change=regressed&amp;against={b.pk}" in html


def test_trace_content_is_escaped(client_as, project, config):
    version = dataset_version(project)
    a, b = experiment(project, version, "a"), experiment(project, version, "b")
    result(a, "r1", "<script>alert(1)</script>", scores={config: 1.0}, input_={"q": "<img src=x onerror=alert(2)>"})
    result(b, "r1", "<b>bold</b>", scores={config: 0.0})
    html = client_as(Role.VIEWER, project).get(URL, {"ids": f"{a.pk},{b.pk}"}).content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html
    assert "<img src=x" not in html and "<b>bold</b>" not in html


def test_filter_lists_the_regressions(client_as, project, config):
    a, b = scored_pair(project, config, [0.0, 1.0, 1.0], [1.0, 1.0, 0.0])
    html = (
        client_as(Role.VIEWER, project)
        .get(URL, {"ids": f"{a.pk},{b.pk}", "config": "correct", "change": "regressed"})
        .content.decode()
    )
    assert 'data-record="r02"' in html and 'data-record="r00"' not in html


def test_bad_input_and_other_projects(client_as, project, other_project, config):
    a, b = scored_pair(project, config, [0.0], [1.0])
    client = client_as(Role.VIEWER, project)
    response = client.get(URL, {"ids": str(a.pk)})
    assert response.status_code == 400 and "data-compare-error" in response.content.decode()
    response = client.get(URL, {"ids": f"{a.pk},{b.pk}", "config": "nope"})
    assert response.status_code == 400 and "<strong>config</strong>" in response.content.decode()
    x, y = scored_pair(other_project, factories.ScoreConfigFactory(project=other_project), [0.0], [1.0])
    assert client.get(URL, {"ids": f"{x.pk},{y.pk}"}).status_code == 404


def test_compare_selected_action_opens_the_page(client_as, project, config):
    a, b = scored_pair(project, config, [0.0], [1.0])
    response = client_as(Role.CURATOR, project).post(
        "/admin/experiments/experiment/", {"action": "compare_selected", "_selected_action": [a.pk, b.pk]}
    )
    assert response.status_code == 302 and response["Location"] == f"{URL}?ids={a.pk}%2C{b.pk}"


def test_alignment_page_and_new_version_button(client_as, project, member):
    correct = score_config_create(project=project, name="correct", kind="boolean")
    scorer, version = judge(project, correct)
    alice = member(project, Role.REVIEWER, username="alice")
    for j, h in [(1.0, 1.0), (0.0, 0.0), (1.0, 0.0), (0.0, 0.0)]:
        judged_span(project, version, j, humans=[(alice, h, "")], name=f"<i>span {j}{h}</i>")
    admin = client_as(Role.ADMIN, project)
    url = f"/admin/experiments/experiment/alignment/{scorer.pk}/"
    html = admin.get(url).content.decode()
    assert "Cohen's κ" in html and "data-confusion" in html and "data-new-version" in html
    assert "<i>span" not in html and "&lt;i&gt;span 1.00.0" in html
    response = admin.post(f"{url}new-version/", {"human_config": "correct", "max_examples": "2"})
    assert response.status_code == 302
    created = ScorerVersion.objects.get(scorer=scorer, number=2)
    assert sorted(e["label"] for e in created.definition["examples"]) == ["no", "yes"]
    assert 'data-version="2"' in admin.get(url).content.decode()
    curator_html = client_as(Role.CURATOR, project).get(url).content.decode()
    assert "data-agreement" in curator_html and "data-new-version" not in curator_html
    assert client_as(Role.REVIEWER, project).get(url).status_code == 403


def test_alignment_page_of_another_project_is_not_found(client_as, project, other_project):
    scorer, _ = judge(other_project, factories.ScoreConfigFactory(project=other_project, boolean=True))
    assert (
        client_as(Role.ADMIN, project).get(f"/admin/experiments/experiment/alignment/{scorer.pk}/").status_code == 404
    )
