"""The OpenAPI schema at /api/schema/ declares what the API answers (apps/core/schema.py)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def test_every_operation_declares_the_error_statuses_its_kind_answers(schema):
    count = 0
    for path, method, operation in operations(schema):
        count += 1
        responses = operation["responses"]
        public = operation.get("security") == [{}] or path == "/api/v1/trace-views/schema/"
        expected = {"400"} if public else {"400", "401", "403", "404", "429"}
        if method in {"post", "put", "patch"}:
            expected |= {"413", "415"}
        assert expected <= set(responses), (method, path, sorted(responses))
        for code in expected - {"400"} if path == "/api/v1/ingest/" else expected:
            assert responses[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if "429" in responses:
            assert "Retry-After" in responses["429"]["headers"]
    assert count >= 78


def test_the_error_body_is_the_one_of_apps_core_exceptions(schema):
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"error", "fields"}
    assert error["properties"]["error"]["type"] == "string"
    assert error["properties"]["fields"]["type"] == "object"


def test_conflicts_and_llm_failures_are_declared_where_they_happen(schema):
    paths = schema["paths"]
    assert "409" in paths["/api/v1/feedback/"]["post"]["responses"]
    assert "409" in paths["/api/v1/exports/{id}/cancel/"]["post"]["responses"]
    assert {"409", "410"} <= set(paths["/api/v1/exports/{id}/download/"]["get"]["responses"])
    assert "409" in paths["/api/v1/review-queues/{queue_pk}/items/{item_pk}/submit/"]["post"]["responses"]
    for path in ("/api/v1/datasets/{id}/generate/", "/api/v1/trace-views/generate/"):
        assert {"502", "503"} <= set(paths[path]["post"]["responses"])
    assert "503" not in paths["/api/v1/traces/"]["get"]["responses"]


def _page_size(operation):
    return next((p for p in operation.get("parameters", []) if p["name"] == "page_size"), None)


@pytest.mark.parametrize(
    ("path", "maximum"),
    [
        ("/api/v1/traces/", 500),
        ("/api/v1/spans/", 500),
        ("/api/v1/scores/", 500),
        ("/api/v1/datasets/", 500),
        ("/api/v1/datasets/{id}/records/", 1000),
        ("/api/v1/datasets/{id}/versions/", 500),
        ("/api/v1/review-queues/{id}/items/", 500),
        ("/api/v1/exports/", 500),
    ],
)
def test_paginated_lists_declare_page_size_bounds_and_a_page(schema, path, maximum):
    operation = schema["paths"][path]["get"]
    assert _page_size(operation)["schema"] | {"default": None} == {
        "type": "integer",
        "minimum": 1,
        "maximum": maximum,
        "default": None,
    }
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    if "$ref" in ok:
        ok = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
    assert ok["type"] == "object"
    assert {"next", "results"} <= set(ok["properties"])
    assert ok["properties"]["results"]["type"] == "array"
    assert ok["properties"]["next"]["nullable"] is True


def test_unpaginated_lists_are_arrays_without_page_parameters(schema):
    for path in ("/api/v1/score-configs/", "/api/v1/datasets/{id}/tags/", "/api/v1/trace-views/templates/"):
        operation = schema["paths"][path]["get"]
        assert _page_size(operation) is None, path
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array", path


def test_nullable_sources_are_marked_nullable(schema):
    components = schema["components"]["schemas"]
    assert components["Score"]["properties"]["author"]["nullable"] is True  # end-user feedback has no author
    assert components["ExportJob"]["properties"]["requested_by"]["nullable"] is True
    assert components["Version"]["properties"]["author"]["nullable"] is True
    assert components["Span"]["properties"]["input"]["nullable"] is True
    assert not components["Score"]["properties"]["span_id"].get("nullable")


@pytest.mark.parametrize(
    ("params", "status"),
    [({"page_size": "0"}, 400), ({"page_size": "501"}, 400), ({"page_size": "x"}, 400), ({"page_size": "500"}, 200)],
)
def test_page_size_bounds_are_enforced_as_declared(key_client, project, params, status):
    response = key_client(project).get("/api/v1/datasets/", params)
    assert response.status_code == status
    if status == 400:
        assert response.json() == {
            "error": "Invalid input.",
            "fields": {"page_size": ["A whole number from 1 to 500."]},
        }


def test_an_unmatched_api_path_answers_the_json_error_body(key_client, project, client):
    response = key_client(project).get("/api/v1/datasets/not-a-number/")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found.", "fields": {}}
    assert client.get("/no-such-page/").headers["Content-Type"].startswith("text/html")


def test_dataset_without_versions_counts_zero_records(key_client, project):
    client = key_client(project)
    created = client.post("/api/v1/datasets/", {"name": "empty"}, format="json")
    assert created.status_code == 201
    assert created.json()["record_count"] == 0


def test_the_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")


def test_an_unreadable_cursor_is_a_bad_parameter(key_client, project):
    response = key_client(project).get("/api/v1/datasets/", {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["fields"] == {"cursor": ["Invalid cursor."]}
