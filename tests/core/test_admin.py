"""The permission matrix of the admin: every registered ModelAdmin and every custom admin URL × role × project.

The user at the centre is an admin of project A and only a viewer of project B: B's objects are
read-only to them, and project C (no membership) answers exactly like an object that does not exist.
A viewer writes nothing; a reviewer (or curator) configures nothing the table keeps for admins.
"""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import URLPattern, reverse

from apps.audit.models import AuditEvent
from apps.projects import permissions as policy
from apps.projects.admin_scope import ProjectScopedAdmin
from apps.projects.models import Project, Role
from tests import factories
from tests.projects.world import build_world, changed, fingerprint, member

pytestmark = pytest.mark.django_db

SCOPED = sorted(
    (m for m, ma in admin.site._registry.items() if isinstance(ma, ProjectScopedAdmin)), key=lambda m: m._meta.label
)
# The audit log's admin scopes itself (read-only, `audit.read` in the event's project): checked below.
UNSCOPED = sorted(
    (m for m, ma in admin.site._registry.items() if not isinstance(ma, ProjectScopedAdmin) and m is not AuditEvent),
    key=lambda m: m._meta.label,
)
STANDARD_VIEWS = {"changelist", "add", "history", "delete", "change", "autocomplete"}
MISSING = 999_999


def _label(model) -> str:
    return model._meta.label


@pytest.fixture
def matrix():
    a, b, c = (factories.ProjectFactory(slug=s) for s in ("alpha", "beta", "gamma"))
    author = factories.UserFactory(username="author", is_superuser=True)
    worlds = {p.slug: build_world(p, author=author) for p in (a, b, c)}
    user = member(a, Role.ADMIN, "admin-a-viewer-b")
    member(b, Role.VIEWER, "admin-a-viewer-b")
    return {
        "a": worlds["alpha"],
        "b": worlds["beta"],
        "c": worlds["gamma"],
        "user": user,
        "admin_b": member(b, Role.ADMIN, "admin-b"),
    }


def _request(user, method="get", path="/admin/"):
    request = getattr(RequestFactory(), method)(path)
    request.user = user
    request.session = {}
    return request


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def test_every_registered_admin_is_scoped_or_closed(matrix):
    """A ModelAdmin that is not project-scoped must refuse every project member (superusers only)."""
    user = matrix["user"]
    assert SCOPED, "no project-scoped admin registered"
    for model in SCOPED:
        assert model in matrix["b"].objects, f"the matrix has no {_label(model)} object: add it to build_world"
    for model in UNSCOPED:
        ma = admin.site._registry[model]
        request = _request(user)
        assert not ma.has_module_permission(request), _label(model)
        assert not ma.has_view_permission(request), _label(model)
        assert not ma.has_add_permission(request) and not ma.has_change_permission(request), _label(model)


def test_the_audit_log_admin_reads_by_the_role_in_the_events_project_and_writes_nothing(client, matrix):
    ma = admin.site._registry[AuditEvent]
    user = matrix["user"]  # admin of A, viewer of B
    mine = AuditEvent.objects.create(
        project=matrix["a"].project, actor_label="x", action="test.a", object_type="test", object_id="1"
    )
    theirs = AuditEvent.objects.create(
        project=matrix["b"].project, actor_label="x", action="test.b", object_type="test", object_id="1"
    )
    request = _request(user)
    assert ma.has_module_permission(request) and ma.has_view_permission(request, mine)
    assert not ma.has_view_permission(request, theirs)
    assert set(ma.get_queryset(request).filter(action__startswith="test.")) == {mine}
    for obj in (mine, theirs, None):
        assert not ma.has_change_permission(request, obj) and not ma.has_delete_permission(request, obj)
    assert not ma.has_add_permission(request)
    client.force_login(user)
    assert client.get(_url(AuditEvent, "change", theirs.pk)).status_code in (302, 404)
    assert client.get(_url(AuditEvent, "delete", mine.pk)).status_code == 403
    viewer = member(matrix["b"].project, Role.VIEWER, "viewer-only-b")
    assert not ma.has_module_permission(_request(viewer))


@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_admin_of_a_cannot_change_or_delete_bs_objects(client, matrix, model):
    ma = admin.site._registry[model]
    user, mine, theirs = matrix["user"], matrix["a"][model], matrix["b"][model]
    request = _request(user)
    assert ma.has_view_permission(request, theirs)
    assert not ma.has_change_permission(request, theirs)
    assert not ma.has_delete_permission(request, theirs)
    assert ma.has_view_permission(request, mine)

    client.force_login(user)
    before = fingerprint()
    assert client.get(_url(model, "change", theirs.pk)).status_code < 400
    response = client.post(_url(model, "change", theirs.pk), {"name": "Hijacked", "project": theirs.pk})
    if type(ma).change_view is admin.ModelAdmin.change_view:
        assert response.status_code == 403
    assert client.get(_url(model, "delete", theirs.pk)).status_code == 403
    assert client.post(_url(model, "delete", theirs.pk), {"post": "yes"}).status_code == 403
    assert changed(before, fingerprint()) == []


@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_another_projects_object_answers_like_a_missing_one(client, matrix, model):
    client.force_login(matrix["user"])
    hidden = matrix["c"][model].pk
    for view in ("change", "delete", "history"):
        got, missing = client.get(_url(model, view, hidden)), client.get(_url(model, view, MISSING))
        assert (got.status_code, got.get("Location")) == (missing.status_code, missing.get("Location")), view
        assert got.status_code in (302, 403, 404)  # 403: this admin deletes nothing, anywhere
    changelist = client.get(_url(model, "changelist"))
    assert changelist.status_code == 200
    shown = {obj.pk for obj in changelist.context["cl"].result_list}
    assert hidden not in shown and matrix["b"][model].pk in shown


@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_actions_refuse_a_selection_reaching_a_project_without_the_role(client, matrix, model):
    ma = admin.site._registry[model]
    user, mine, theirs = matrix["user"], matrix["a"][model], matrix["b"][model]
    actions = ma.get_actions(_request(user))
    client.force_login(user)
    for name in actions:
        if model is Project and name.startswith("create_"):
            continue  # per project, refusal named: tests/projects/test_admin.py
        before = fingerprint()
        response = client.post(
            _url(model, "changelist"),
            {
                "action": name,
                "_selected_action": [mine.pk, theirs.pk],
                "post": "yes",
                "index": 0,
            },
            follow=True,
        )
        assert response.status_code in (200, 403), name
        assert changed(before, fingerprint()) == [], name
        if response.status_code == 200:
            text = response.content.decode()
            assert "Nothing done" in text, name
            # The same action on the user's own project alone is not refused.
            own = client.post(
                _url(model, "changelist"), {"action": name, "_selected_action": [mine.pk], "index": 0}, follow=True
            )
            assert "Nothing done" not in own.content.decode(), name


@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.CURATOR])
@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_lower_roles_write_nothing_the_table_keeps_from_them(client, matrix, model, role):
    ma = admin.site._registry[model]
    user = member(matrix["a"].project, role, f"{role}-a")
    obj = matrix["a"][model]
    request = _request(user)
    assert ma.has_view_permission(request, obj)
    for kind, allowed in (
        ("add", ma.has_add_permission(request)),
        ("change", ma.has_change_permission(request, obj)),
        ("delete", ma.has_delete_permission(request, obj)),
    ):
        if not policy.role_allows(role, ma._action(kind)):
            assert not allowed, (kind, role)
    for name, (func, _, _) in ma.get_actions(request).items():
        assert policy.role_allows(role, ma.action_policy(func)), (name, role)
    if role in (Role.VIEWER, Role.REVIEWER):  # neither configures nor curates anything in the admin
        assert not ma.has_add_permission(request) and not ma.has_change_permission(request, obj)
        assert not ma.has_delete_permission(request, obj) and not ma.get_actions(request)
        client.force_login(user)
        before = fingerprint()
        assert client.get(_url(model, "add")).status_code in (302, 403)
        assert client.post(_url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
        assert changed(before, fingerprint()) == []


def _project_choices(response) -> set[str] | None:
    ctx = response.context
    if ctx is None:
        return None
    if "adminform" in ctx and "project" in ctx["adminform"].form.fields:
        return {p.slug for p in ctx["adminform"].form.fields["project"].queryset}
    if "form" in ctx and hasattr(ctx["form"], "fields") and "project" in ctx["form"].fields:
        return {p.slug for p in ctx["form"].fields["project"].queryset}
    if "projects" in ctx:
        return {p.slug for p in ctx["projects"]}
    return None


@pytest.mark.parametrize("model", SCOPED, ids=_label)
def test_add_forms_offer_only_projects_with_the_role(client, matrix, model):
    ma = admin.site._registry[model]
    user = matrix["user"]
    if not ma.has_add_permission(_request(user)):
        return
    client.force_login(user)
    response = client.get(_url(model, "add"), follow=True)
    assert response.status_code == 200
    choices = _project_choices(response)
    assert choices == {"alpha"}, (model, choices)


def test_import_form_offers_only_projects_where_the_user_configures(client, matrix):
    client.force_login(matrix["user"])
    response = client.get(reverse("admin:reviews_scoreconfig_import"))
    assert response.status_code == 200
    assert {p.slug for p in response.context["form"].fields["project"].queryset} == {"alpha"}


def test_project_inlines_follow_the_role_in_that_project(matrix):
    ma = admin.site._registry[Project]
    request = _request(matrix["user"])
    for project, editable in ((matrix["a"].project, True), (matrix["b"].project, False)):
        inlines = ma.get_inline_instances(request, project)
        membership = next(i for i in inlines if i.model.__name__ == "Membership")
        assert membership.has_change_permission(request, project) is editable
        assert membership.has_add_permission(request, project) is False  # "Add member" adds people
        assert membership.has_delete_permission(request, project) is editable
        keys = next(i for i in inlines if i.model.__name__ == "ProjectAPIKey")
        assert keys.has_change_permission(request, project) is editable  # revoking


# ---------------------------------------------------------------- custom admin screens


def _custom_urls() -> list[tuple[type, URLPattern]]:
    found = []
    for model in SCOPED:
        ma = admin.site._registry[model]
        prefix = f"{model._meta.app_label}_{model._meta.model_name}_"
        for pattern in ma.get_urls():
            if (
                isinstance(pattern, URLPattern)
                and pattern.name
                and pattern.name.removeprefix(prefix) not in STANDARD_VIEWS
            ):
                found.append((model, pattern))
    return found


CUSTOM_URLS = _custom_urls()


def _kwargs(model, pattern: URLPattern, world) -> dict:
    from apps.datasets.models import DatasetJob
    from apps.experiments.models import Scorer
    from apps.exports.models import ExportJob
    from apps.queues.models import ReviewItem, ReviewQueue
    from apps.traces.models import Span, Trace

    values = {
        "queue_id": world[ReviewQueue].pk,
        "item_id": world[ReviewItem].pk,
        "pk": world[model].pk,
        "object_id": world[ExportJob].pk,
        "span_pk": world[Span].pk,
        "job_id": world[DatasetJob].pk,
        "trace_ref": str(world[Trace].pk),
        "trace_id": world[Trace].trace_id,
        "scorer_id": world[Scorer].pk,
    }
    return {name: values[name] for name in pattern.pattern.converters}


def _missing_kwargs(pattern: URLPattern) -> dict:
    return {
        name: (MISSING if conv.regex == "[0-9]+" else "missing-ref")
        for name, conv in pattern.pattern.converters.items()
    }


SPEC = {"version": 1, "components": [{"type": "conversation", "path": ["$.input", "$.output"]}]}

# The writes a custom screen performs, with a body that works for a member who has the role:
# (content type, body builder(world)). Every other custom URL only reads.
WRITE_BODIES = {
    "reviews_annotation_submit": ("json", lambda w: {"comment": "hijacked"}),
    "queues_reviewqueue_review_submit": ("json", lambda w: {"comment": "hijacked"}),
    "queues_reviewqueue_review_skip": ("json", lambda w: {}),
    # The control (a lead marks an item with gold values) is tests/queues/test_gold.py: the world's items have none.
    "queues_reviewqueue_gold_questions": ("form", None),
    "queues_reviewqueue_adjudicate": ("json", lambda w: {"scores": {w.extra["scoring"].name: {"value": 0.9}}}),
    "datasets_dataset_record_save": (
        "form",
        lambda w: {"record_id": "r9", "input": '{"q": "new"}', "expected": "", "metadata": ""},
    ),
    "datasets_dataset_record_delete": ("form", lambda w: {"record_id": "r1"}),
    "datasets_dataset_restore": ("form", lambda w: {"version": "1"}),
    "datasets_dataset_tag": ("form", lambda w: {"name": "beta", "version": "1"}),
    "datasets_dataset_import": ("form", None),
    "datasets_dataset_generate": ("form", None),
    "datasets_dataset_from_feedback": ("form", None),
    "exports_exportjob_new": (
        "form",
        lambda w: {"project": w.project.pk, "source": "spans", "format": "jsonl", "filters": "{}"},
    ),
    "exports_exportjob_cancel": ("form", lambda w: {}),
    "views_traceview_editor": ("form", lambda w: {"name": "Hijacked", "description": "", "spec": json.dumps(SPEC)}),
    "views_traceview_editor_new": (
        "form",
        lambda w: {"project": w.project.slug, "name": "New view", "description": "", "spec": json.dumps(SPEC)},
    ),
    "reviews_scoreconfig_import": ("form", None),
    "reviews_scoreconfig_process_import": ("form", None),
    "projects_project_member_add": ("form", lambda w: {"username_or_email": "newcomer", "role": "reviewer"}),
}
WRITE_ROLE = {  # the policy action behind each write screen
    "reviews_annotation_submit": "annotation.write",
    "queues_reviewqueue_review_submit": "queue.review",
    "queues_reviewqueue_review_skip": "queue.review",
    "queues_reviewqueue_adjudicate": "queue.adjudicate",
    "exports_exportjob_new": "export.run",
    "queues_reviewqueue_gold_questions": "queue.gold_questions",
    "exports_exportjob_cancel": "export.run",
    "views_traceview_editor": "trace_view.edit",
    "views_traceview_editor_new": "trace_view.edit",
    "reviews_scoreconfig_import": "score_config.manage",
    "reviews_scoreconfig_process_import": "score_config.manage",
    "projects_project_member_add": "member.manage",
}


def _post(client, url, kind, body):
    if kind == "json":
        return client.post(url, json.dumps(body), content_type="application/json")
    return client.post(url, body)


def test_every_custom_admin_url_is_in_the_matrix():
    names = {pattern.name for _, pattern in CUSTOM_URLS}
    assert len(names) >= 20
    for name in WRITE_BODIES:
        assert name in names, f"{name} is no longer a custom admin URL"


@pytest.mark.parametrize("model, pattern", CUSTOM_URLS, ids=[p.name for _, p in CUSTOM_URLS])
def test_custom_screen_of_another_project(client, matrix, model, pattern):
    """Admin of A, viewer of B: B's screens write nothing; C's screens answer like missing objects."""
    client.force_login(matrix["user"])
    url = reverse(f"admin:{pattern.name}", kwargs=_kwargs(model, pattern, matrix["b"]))
    kind, body = WRITE_BODIES.get(pattern.name, ("form", None))
    before = fingerprint()
    assert client.get(url).status_code < 500
    response = _post(client, url, kind, body(matrix["b"]) if body else {})
    assert response.status_code < 500
    assert changed(before, fingerprint()) == [], pattern.name
    if pattern.name in WRITE_BODIES and pattern.pattern.converters:
        assert response.status_code in (403, 404, 405), (pattern.name, response.status_code)

    if pattern.pattern.converters:
        hidden = client.get(reverse(f"admin:{pattern.name}", kwargs=_kwargs(model, pattern, matrix["c"])))
        missing = client.get(reverse(f"admin:{pattern.name}", kwargs=_missing_kwargs(pattern)))
        assert hidden.status_code == missing.status_code, pattern.name
        assert hidden.status_code in (302, 400, 404, 405), (pattern.name, hidden.status_code)


CONTROLLED = [name for name, (_, body) in WRITE_BODIES.items() if body is not None]


@pytest.mark.parametrize("name", CONTROLLED)
def test_the_same_write_works_with_the_role_in_that_project(client, matrix, name):
    """The control: the refused bodies above are valid, so the refusal is the permission, not the input."""
    model, pattern = next((m, p) for m, p in CUSTOM_URLS if p.name == name)
    world = matrix["b"]
    client.force_login(matrix["admin_b"])
    if name.startswith("queues_reviewqueue_review_"):  # open the item first, as the review page does
        client.get(reverse("admin:queues_reviewqueue_review", args=[world[model].pk]))
    kind, body = WRITE_BODIES[name]
    before = fingerprint()
    response = _post(client, reverse(f"admin:{name}", kwargs=_kwargs(model, pattern, world)), kind, body(world))
    assert response.status_code < 400, (name, response.status_code, response.content[:300])
    assert changed(before, fingerprint()), name


@pytest.mark.parametrize("name", sorted(WRITE_ROLE))
@pytest.mark.parametrize("role", [Role.VIEWER, Role.REVIEWER, Role.CURATOR])
def test_write_screens_by_role(client, matrix, name, role):
    """In their own project, a member below the screen's role is refused and nothing is written."""
    if policy.role_allows(role, WRITE_ROLE[name]):
        return
    model, pattern = next((m, p) for m, p in CUSTOM_URLS if p.name == name)
    world = matrix["a"]
    client.force_login(member(world.project, role, f"{role}-only"))
    kind, body = WRITE_BODIES[name]
    before = fingerprint()
    response = _post(
        client, reverse(f"admin:{name}", kwargs=_kwargs(model, pattern, world)), kind, body(world) if body else {}
    )
    assert response.status_code < 500
    assert changed(before, fingerprint()) == [], (name, role)
