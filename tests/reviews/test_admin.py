import json

import pytest
from django.urls import reverse

from apps.projects.models import Role
from apps.reviews.models import Comment, Correction, Score, ScoreConfig
from apps.reviews.services.scores import score_record
from apps.traces.models import SpanTag
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def span(project):
    trace = factories.TraceFactory(project=project, trace_id="t-1", root_span_id="root-1")
    return factories.SpanFactory(
        trace=trace, span_id="root-1", parent_span_id="", output={"role": "assistant", "content": "Refunds in 14 days."}
    )


@pytest.fixture
def configs(project):
    return [
        factories.ScoreConfigFactory(
            project=project,
            name="helpfulness",
            order=1,
            min_value=0,
            max_value=1,
            description="How **helpful**? <script>alert(1)</script>",
        ),
        factories.ScoreConfigFactory(project=project, name="correctness", order=2, categorical=True),
        factories.ScoreConfigFactory(project=project, name="thumbs", order=3, boolean=True),
        factories.ScoreConfigFactory(project=project, name="notes", order=4, text=True),
    ]


def csv_format_index(client, url) -> str:
    choices = client.get(url).context["form"].fields["format"].choices
    return next(str(value) for value, label in choices if str(label).lower() == "csv")


def submit(client, span, payload):
    return client.post(
        reverse("admin:reviews_annotation_submit", args=[span.pk]), json.dumps(payload), content_type="application/json"
    )


def page(client, span):
    return client.get(reverse("admin:traces_span_change", args=[span.pk]))


def test_span_page_renders_each_config_as_its_control(admin_client, span, configs):
    response = page(admin_client, span)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'type="range"' in html and 'data-score-config="helpfulness"' in html
    assert 'data-option="partially"' in html and 'data-option="true"' in html
    assert 'maxlength="50"' in html  # the text config's limit
    assert "<strong>helpful</strong>" in html and "<script>alert(1)" not in html  # sanitised Markdown
    assert 'src="/static/reviews/annotation_panel.js"' in html
    assert 'id="assay-annotations-state-' in html  # state passed with json_script
    # The expected editor is seeded from the output.
    assert "Refunds in 14 days." in html


def test_submit_through_the_panel_and_see_it_on_the_page(client, project, member, span, configs):
    reviewer = member(project, role=Role.REVIEWER, username="rita")
    client.force_login(reviewer)
    response = submit(
        client,
        span,
        {
            "scores": {"helpfulness": 0.75, "correctness": "partially", "thumbs": False, "notes": "Wrong window"},
            "comment": "Policy says 30 days.",
            "tags": ["refund-policy"],
            "expected": "Refunds within 30 days.",
            "metadata": {"difficulty": "easy"},
        },
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert "rita" in body["html"]  # the refreshed panel shows who saved
    assert Score.objects.filter(span=span, author=reviewer).count() == 4
    html = page(client, span).content.decode()
    assert "Policy says 30 days." in html and "refund-policy" in html
    assert "0.75" in html and "(75%)" in html and "partially" in html
    # Correction history and a diff of expected against the output.
    assert 'class="assay-diff-del">-Refunds in 14 days.' in html
    assert 'class="assay-diff-add">+Refunds within 30 days.' in html
    assert "difficulty" in html

    # Saving again updates the reviewer's score instead of adding one; removing a tag works.
    assert submit(client, span, {"scores": {"helpfulness": 0.25}, "remove_tags": ["refund-policy"]}).status_code == 200
    assert Score.objects.get(span=span, config=configs[0]).value == 0.25
    assert not SpanTag.objects.filter(span=span).exists()
    html = page(client, span).content.decode()
    assert "Score history" in html and "remove <strong>refund-policy</strong> by rita" in html


def test_panel_bad_input_names_the_field_and_writes_nothing(client, project, member, span, configs):
    client.force_login(member(project))
    response = submit(client, span, {"scores": {"helpfulness": 2, "thumbs": True}, "comment": "x", "tags": ["t" * 201]})
    assert response.status_code == 400
    assert set(response.json()["fields"]) == {"scores.helpfulness", "tags.0"}
    assert not Score.objects.exists() and not Comment.objects.exists()
    assert submit(client, span, {"unknown": 1}).status_code == 400
    bad_json = client.post(
        reverse("admin:reviews_annotation_submit", args=[span.pk]), "{nope", content_type="application/json"
    )
    assert bad_json.status_code == 400


def test_untrusted_content_is_escaped_in_the_panel(client, project, member, span, configs):
    user = member(project)
    client.force_login(user)
    evil = "<img src=x onerror=alert(1)>"
    assert (
        submit(
            client,
            span,
            {
                "comment": evil,
                "expected": evil,
                "tags": [evil],
                "metadata": {evil: evil},
                "scores": {"notes": "<b>x</b>"},
            },
        ).status_code
        == 200
    )
    html = page(client, span).content.decode()
    assert evil not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>x</b>" not in html


def test_panel_is_refused_across_projects_and_for_viewers(client, project, other_project, member, span, configs):
    outsider = member(other_project, role=Role.ADMIN)
    client.force_login(outsider)
    assert page(client, span).status_code == 404
    assert submit(client, span, {"comment": "hi"}).status_code == 404
    viewer = member(project, role=Role.VIEWER)
    client.force_login(viewer)
    html = page(client, span).content.decode()
    assert "data-annotation-form" not in html  # read-only for viewers
    assert submit(client, span, {"comment": "hi"}).status_code == 403
    assert not Comment.objects.exists()


def test_submit_needs_csrf(project, member, span, configs):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member(project))
    assert submit(client, span, {"comment": "hi"}).status_code == 403
    assert not Comment.objects.exists()


def test_trace_page_panel_registered_for_the_selected_span(rf, project, member, span, configs):
    from apps.core import registry
    from apps.reviews.panels import trace_page_panel

    assert trace_page_panel in registry.trace_page_panels
    request = rf.get("/")
    request.user = member(project)
    panel = trace_page_panel(request=request, trace=span.trace, span=span)
    assert panel["title"] == "Annotations" and panel["template"] == "reviews/_annotation_panel.html"
    from django.template.loader import render_to_string

    html = render_to_string(panel["template"], {"panel_context": panel["context"]}, request=request)
    assert 'data-score-config="correctness"' in html
    request.user = member(factories.ProjectFactory(slug="elsewhere"))
    assert trace_page_panel(request=request, trace=span.trace, span=span) is None


# ------------------------------------------------------------------ score config admin


def test_config_admin_validates_through_the_service(admin_client, project):
    url = reverse("admin:reviews_scoreconfig_add")
    response = admin_client.post(
        url,
        {
            "project": project.pk,
            "name": "c",
            "description": "",
            "kind": "categorical",
            "order": 0,
            "min_value": 0,
            "max_value": 1,
            "options": '[{"label": "a", "value": 1}, {"label": "a", "value": 0}]',
            "max_length": 2000,
        },
    )
    assert response.status_code == 200 and "labels must be unique" in response.content.decode()
    response = admin_client.post(
        url,
        {
            "project": project.pk,
            "name": "c",
            "description": "",
            "kind": "categorical",
            "order": 0,
            "min_value": 0,
            "max_value": 1,
            "options": '[{"label": "a", "value": 1}, {"label": "b", "value": 0}]',
            "max_length": 2000,
        },
    )
    assert response.status_code == 302
    assert ScoreConfig.objects.get(name="c").options == [{"label": "a", "value": 1}, {"label": "b", "value": 0}]


def test_config_admin_refuses_deleting_a_config_with_scores(admin_client, project, span):
    config = factories.ScoreConfigFactory(project=project, boolean=True)
    score_record(span=span, config=config, value=True, source="api")
    response = admin_client.post(reverse("admin:reviews_scoreconfig_delete", args=[config.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert ScoreConfig.objects.filter(pk=config.pk).exists()
    changelist = reverse("admin:reviews_scoreconfig_changelist")
    admin_client.post(changelist, {"action": "archive_configs", "_selected_action": [config.pk]})
    config.refresh_from_db()
    assert config.is_archived


def test_config_admin_is_for_project_admins_only(client, project, other_project, member):
    mine = factories.ScoreConfigFactory(project=project, name="mine")
    factories.ScoreConfigFactory(project=other_project, name="theirs")
    client.force_login(member(project, role=Role.REVIEWER))
    changelist = client.get(reverse("admin:reviews_scoreconfig_changelist"))
    assert changelist.status_code == 200
    assert "mine" in changelist.content.decode() and "theirs" not in changelist.content.decode()
    assert client.get(reverse("admin:reviews_scoreconfig_add")).status_code == 403
    client.force_login(member(project, role=Role.ADMIN))
    assert client.get(reverse("admin:reviews_scoreconfig_change", args=[mine.pk])).status_code == 200


def test_configs_export_from_one_project_and_import_into_another(admin_client, project, other_project):
    factories.ScoreConfigFactory(project=project, name="correctness", categorical=True, description="Right?")
    factories.ScoreConfigFactory(project=project, name="thumbs", boolean=True)
    factories.ScoreConfigFactory(project=other_project, name="thumbs", kind="text")  # clashes: not exported
    from apps.reviews.resources import ScoreConfigResource

    exported = ScoreConfigResource().export(ScoreConfig.objects.filter(project=project)).csv
    assert "correctness" in exported and "partially" in exported

    target = factories.ProjectFactory(slug="target")
    url = reverse("admin:reviews_scoreconfig_import")
    form_page = admin_client.get(url)
    assert form_page.status_code == 200 and 'name="project"' in form_page.content.decode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv_index = csv_format_index(admin_client, url)
    upload = SimpleUploadedFile("configs.csv", exported.encode(), content_type="text/csv")
    confirm = admin_client.post(url, {"project": target.pk, "format": csv_index, "import_file": upload})
    assert confirm.status_code == 200, confirm.content
    form = confirm.context["confirm_form"]
    assert form is not None, confirm.context["result"].invalid_rows
    done = admin_client.post(
        reverse("admin:reviews_scoreconfig_process_import"),
        {
            "import_file_name": form.initial["import_file_name"],
            "original_file_name": "configs.csv",
            "format": form.initial["format"],
            "resource": form.initial.get("resource", ""),
            "project": target.pk,
        },
    )
    assert done.status_code == 302
    imported = {c.name: c for c in ScoreConfig.objects.filter(project=target)}
    assert set(imported) == {"correctness", "thumbs"}
    assert imported["correctness"].options[1] == {"label": "partially", "value": 0.5}
    assert ScoreConfig.objects.get(project=other_project, name="thumbs").kind == "text"  # untouched


def test_import_with_a_bad_row_reports_it_and_writes_nothing(admin_client, project):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("admin:reviews_scoreconfig_import")
    csv_index = csv_format_index(admin_client, url)
    data = (
        "name,description,kind,order,min_value,max_value,options,multi_select,max_length,is_archived\n"
        "ok,,boolean,0,0,1,[],0,2000,0\n"
        "bad,,continuous,0,5,1,[],0,2000,0\n"
    )
    upload = SimpleUploadedFile("c.csv", data.encode(), content_type="text/csv")
    response = admin_client.post(url, {"project": project.pk, "format": csv_index, "import_file": upload})
    assert response.status_code == 200
    assert response.context.get("confirm_form") is None
    assert "greater than min_value" in response.content.decode()
    assert not ScoreConfig.objects.exists()


def test_read_mostly_admins_list_scores_comments_and_corrections(admin_client, project, span, member):
    config = factories.ScoreConfigFactory(project=project, name="helpfulness")
    score_record(span=span, config=config, value=0.5, author=member(project))
    for name in ("score", "comment", "correction", "tagevent", "scoreevent"):
        assert admin_client.get(reverse(f"admin:reviews_{name}_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:reviews_score_add")).status_code == 403
    assert Correction.objects.count() == 0


def test_trace_and_span_admin_pages_show_the_panel_and_saved_annotations(client, project, member, span, configs):
    reviewer = member(project, username="tess")
    client.force_login(reviewer)
    assert (
        submit(
            client,
            span,
            {
                "scores": {"correctness": "incorrect"},
                "comment": "Off by two weeks.",
                "expected": "Refunds within 30 days.",
            },
        ).status_code
        == 200
    )
    for url in (
        reverse("admin:traces_trace_change", args=[span.trace.pk]),
        reverse("admin:traces_span_change", args=[span.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "data-assay-annotations" in html and 'data-score-config="helpfulness"' in html
        assert "Off by two weeks." in html and "tess" in html
        assert 'class="assay-diff-add">+Refunds within 30 days.' in html


def test_a_narrowed_panel_stays_narrowed_after_a_save(rf, client, project, member, span, configs):
    from apps.reviews.panels import annotation_panel_context

    user = member(project)
    request = rf.get("/")
    request.user = user
    ctx = annotation_panel_context(request, span, configs=[configs[2]])  # thumbs only
    assert [c["name"] for c in ctx["panel_state"]["configs"]] == ["thumbs"]
    client.force_login(user)
    response = client.post(
        ctx["panel_state"]["submitUrl"], json.dumps({"scores": {"thumbs": True}}), content_type="application/json"
    )
    assert response.status_code == 200
    html = response.json()["html"]
    assert 'data-score-config="thumbs"' in html and 'data-score-config="helpfulness"' not in html
    fragment = client.get(ctx["panel_state"]["panelUrl"]).content.decode()
    assert 'data-score-config="thumbs"' in fragment and 'data-score-config="notes"' not in fragment


def test_a_project_admin_imports_only_into_their_projects(client, project, other_project, member):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.force_login(member(project, role=Role.ADMIN))
    url = reverse("admin:reviews_scoreconfig_import")
    choices = [str(v) for v, _ in client.get(url).context["form"].fields["project"].choices if v]
    assert choices == [str(project.pk)]
    data = "name,kind,options\nx,boolean,[]\n"
    upload = SimpleUploadedFile("c.csv", data.encode(), content_type="text/csv")
    response = client.post(
        url, {"project": other_project.pk, "format": csv_format_index(client, url), "import_file": upload}
    )
    assert response.status_code == 200 and response.context["form"].errors.get("project")
    assert not ScoreConfig.objects.exists()


def test_deleting_a_score_in_the_admin_is_kept_in_its_history(admin_client, project, span, member):
    from apps.reviews.models import ScoreEvent

    config = factories.ScoreConfigFactory(project=project)
    score = score_record(span=span, config=config, value=0.5, author=member(project))
    admin_client.post(reverse("admin:reviews_score_delete", args=[score.pk]), {"post": "yes"})
    assert not Score.objects.exists()
    assert list(ScoreEvent.objects.values_list("action", flat=True)) == ["create", "delete"]


def test_dashboard_shows_negative_feedback_and_what_needs_a_correction(
    client, project, other_project, member, span, configs
):
    from apps.reviews.services.corrections import correction_record

    thumbs = configs[2]
    second = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    score_record(span=span, config=thumbs, value=False, source="end_user")
    score_record(span=second, config=thumbs, value=False, source="end_user")
    score_record(span=factories.SpanFactory(trace=span.trace), config=thumbs, value=True, source="end_user")
    correction_record(span=span, value="fixed")
    theirs = factories.ScoreConfigFactory(project=other_project, boolean=True)
    score_record(
        span=factories.SpanFactory(trace=factories.TraceFactory(project=other_project)),
        config=theirs,
        value=False,
        source="end_user",
    )
    client.force_login(member(project, role=Role.VIEWER))
    html = client.get(reverse("admin:index")).content.decode()
    assert "End-user feedback" in html
    row = html[html.index("assay-feedback-panel") :]
    assert "2 spans" in row and "<strong>1</strong>" in row
    assert "Other" not in row  # another project's feedback is not shown
