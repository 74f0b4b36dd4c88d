"""The admin reads JSON under the same body rules as the API (`apps.core.parsing`): deep nesting, lone
surrogates and U+0000 in admin forms, the admin's JSON endpoints and imported files answer 4xx (or
are stripped of NUL) on SQLite and PostgreSQL, never a 500."""

from __future__ import annotations

import json

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import models
from django.test import RequestFactory
from django.urls import reverse

from apps.core.forms import BoundedJSONFormField
from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_records_at_version
from apps.projects.models import Role
from apps.reviews.models import Comment
from apps.views.models import TraceView
from tests import factories

DEEP = "[" * 10_000 + "]" * 10_000
LONE = '"\\ud800"'


def test_every_json_field_of_every_model_admin_form_is_bounded(db):
    superuser = factories.UserFactory(is_superuser=True, is_staff=True)
    request = RequestFactory().get("/admin/")
    request.user = superuser
    checked = 0
    for model, model_admin in admin.site._registry.items():
        json_fields = [f.name for f in model._meta.get_fields() if isinstance(f, models.JSONField)]
        if not json_fields or not model_admin.has_add_permission(request):
            continue
        form = model_admin.get_form(request)
        for name in json_fields:
            if name in form.base_fields:
                assert isinstance(form.base_fields[name], BoundedJSONFormField), f"{model.__name__}.{name}"
                checked += 1
    assert checked >= 2  # e.g. a project's allowed origins, a score config's options


@pytest.mark.parametrize(
    "text, ok, expected",
    [
        ('["https://a.example\\u0000"]', True, ["https://a.example"]),
        (DEEP, False, "levels deep"),
        (f"[{LONE}]", False, "surrogate"),
    ],
)
def test_the_bounded_form_field_strips_nul_and_refuses_depth_and_surrogates(text, ok, expected):
    field = BoundedJSONFormField(label="allowed_origins")
    if ok:
        assert field.clean(text) == expected
    else:
        from django.core.exceptions import ValidationError

        with pytest.raises(ValidationError) as raised:
            field.clean(text)
        assert expected in " ".join(raised.value.messages)


def test_admin_json_endpoints_answer_400_naming_the_field_and_strip_nul(project, member, client_as):
    reviewer = member(project, role=Role.REVIEWER)
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    client = client_as(user=reviewer)
    url = reverse("admin:reviews_annotation_submit", args=[span.pk])
    deep = client.post(url, DEEP, content_type="application/json")
    assert deep.status_code == 400 and "levels deep" in deep.json()["error"]
    lone = client.post(url, f'{{"comment": {LONE}}}', content_type="application/json")
    assert lone.status_code == 400 and "comment" in lone.json()["fields"]
    assert not Comment.objects.filter(span=span).exists()
    nul = client.post(url, json.dumps({"comment": "fine\u0000 text"}), content_type="application/json")
    assert nul.status_code == 200, nul.content[:300]
    assert Comment.objects.get(span=span).text == "fine text"


def test_review_submit_refuses_deep_and_surrogate_bodies(project, member, client_as):
    from apps.queues.services.filling import review_items_add
    from apps.queues.services.queues import review_queue_create

    reviewer = member(project, role=Role.REVIEWER)
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    queue = review_queue_create(project=project, name="Q")
    review_items_add(queue=queue, spans=project.spans.filter(pk=span.pk))
    item = queue.items.get()
    client = client_as(user=reviewer)
    url = reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item.pk])
    for body, needle in ((DEEP, "levels deep"), (f'{{"comment": {LONE}}}', "surrogate")):
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == 400, response.content[:300]
        assert needle in json.dumps(response.json())


def test_trace_view_editor_shows_a_form_error_for_hostile_specs(project, member, client_as):
    curator = client_as(Role.CURATOR, project)
    for spec, needle in ((DEEP, "levels deep"), (f'{{"version": 1, "title": {LONE}}}', "surrogate")):
        response = curator.post(
            "/admin/views/traceview/editor/",
            {"name": "Hostile", "description": "", "project": project.slug, "spec": spec},
        )
        assert response.status_code == 400, response.status_code
        assert needle in response.content.decode()
    assert not TraceView.objects.filter(name="Hostile").exists()


def test_dataset_import_strips_nul_and_names_the_row_with_a_surrogate(project, member, client_as):
    curator = client_as(Role.CURATOR, project)
    dataset = Dataset.objects.create(project=project, name="Imports")
    url = reverse("admin:datasets_dataset_import", args=[dataset.pk])
    bad = SimpleUploadedFile("rows.jsonl", b'{"input": "ok"}\n{"input": ' + LONE.encode() + b"}\n")
    page = curator.post(url, {"file": bad, "format": "auto"})
    assert page.status_code in (200, 400) and "surrogate" in page.content.decode()
    assert "line 2" in page.content.decode()
    good = SimpleUploadedFile("rows.jsonl", b'{"input": "nul\\u0000 here", "expected": "a\\u0000b"}\n')
    response = curator.post(url, {"file": good, "format": "auto"})
    assert response.status_code == 302, response.content[:500]
    [record] = dataset_records_at_version(dataset=Dataset.objects.get(pk=dataset.pk))
    assert record.input == "nul here" and record.expected == "ab"
