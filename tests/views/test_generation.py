"""Describe a view in words, against a local OpenAI-compatible stub on loopback."""

import json

import pytest

from tests.llm_stub import StubLLM

from .conftest import make_trace

pytestmark = pytest.mark.django_db

SENTINELS = [
    "SECRET-question-7781",
    "SECRET-answer-5512",
    "SECRET-customer-0042",
    "model-SECRET-9",
    "SECRET-doc-body",
    "987654321",
]


@pytest.fixture
def llm(settings):
    def start(replies):
        return StubLLM(replies).configure(settings, "sk-test-key")

    return start


@pytest.fixture
def secret_trace(project):
    return make_trace(
        project,
        [
            {
                "name": "rag",
                "type": "task",
                "model": "model-SECRET-9",
                "total_tokens": 987654321,
                "input": {"question": "SECRET-question-7781"},
                "output": {"answer": "SECRET-answer-5512"},
                "metadata": {"customer": "SECRET-customer-0042", "flags": [True, False]},
            },
            {
                "name": "retrieve",
                "type": "retrieval",
                "output": {"documents": [{"content": "SECRET-doc-body", "score": 0.5}]},
            },
        ],
        trace_id="secret-1",
    )


@pytest.fixture
def curator(client_as, project):
    return client_as("curator", project)


VALID = {
    "version": 1,
    "components": [
        {"type": "markdown", "title": "Question", "path": "$.input.question"},
        {
            "type": "carousel",
            "span": {"type": "retrieval"},
            "path": "$.output.documents",
            "components": [{"type": "markdown", "path": "$.content"}],
        },
    ],
}
INVALID = {"components": [{"type": "markdown", "title": "Question"}]}


def test_generates_after_one_retry_and_sends_only_the_shape(curator, llm, secret_trace):
    with llm([json.dumps(INVALID), "```json\n" + json.dumps(VALID) + "\n```"]) as stub:
        response = curator.post(
            "/api/v1/trace-views/generate/",
            {
                "description": "Question, then the retrieved documents",
                "trace": "secret-1",
                "base_url": "http://203.0.113.9/evil",
            },
            content_type="application/json",
        )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {"spec": VALID, "errors": {}, "valid": True, "attempts": 2}
    assert len(stub.requests) == 2
    assert all(r["path"] == "/v1/chat/completions" and r["auth"] == "Bearer sk-test-key" for r in stub.requests)
    first = stub.requests[0]["body"]
    assert first["model"] == "stub-model"
    user_message = first["messages"][1]["content"]
    assert "Question, then the retrieved documents" in user_message
    # The shape: keys and types, span names and types; never a value.
    assert '"question": "string"' in user_message and '"score": "number"' in user_message
    assert '"name": "retrieve"' in user_message
    for request in stub.requests:
        for secret in SENTINELS:
            assert secret not in request["raw"], secret
    retry = stub.requests[1]["body"]["messages"]
    assert retry[-2]["role"] == "assistant"
    assert "components[0].path: This field is required." in retry[-1]["content"]


def test_still_invalid_after_retry_opens_with_errors(curator, llm, secret_trace):
    with llm([json.dumps(INVALID), json.dumps(INVALID)]):
        body = curator.post(
            "/api/v1/trace-views/generate/", {"description": "x", "trace": "secret-1"}, content_type="application/json"
        ).json()
    assert body["valid"] is False and body["attempts"] == 2
    assert body["errors"] == {"components[0].path": ["This field is required."]}


def test_valid_first_time_makes_one_call(curator, llm, secret_trace):
    with llm([json.dumps(VALID)]) as stub:
        body = curator.post(
            "/api/v1/trace-views/generate/", {"description": "x", "trace": "secret-1"}, content_type="application/json"
        ).json()
    assert body["attempts"] == 1 and len(stub.requests) == 1


def test_non_json_twice_is_a_502(curator, llm, secret_trace):
    with llm(["Sure! Here is your view.", "I cannot."]):
        response = curator.post(
            "/api/v1/trace-views/generate/", {"description": "x", "trace": "secret-1"}, content_type="application/json"
        )
    assert response.status_code == 502 and "did not answer with JSON" in response.json()["error"]


def test_endpoint_error_is_a_502_without_secrets(curator, llm, secret_trace, monkeypatch):
    monkeypatch.setattr("apps.core.llm.BACKOFF_SECONDS", 0)
    with llm([500, 500, 500]):  # 5xx is retried twice
        response = curator.post(
            "/api/v1/trace-views/generate/", {"description": "x", "trace": "secret-1"}, content_type="application/json"
        )
    assert response.status_code == 502 and "sk-test-key" not in response.content.decode()


def test_unconfigured_explains_how(curator, settings, secret_trace):
    settings.LLM_BASE_URL = ""
    status = curator.get("/api/v1/trace-views/generate/").json()
    assert status["configured"] is False and "LLM_BASE_URL" in status["help"]
    response = curator.post(
        "/api/v1/trace-views/generate/", {"description": "x", "trace": "secret-1"}, content_type="application/json"
    )
    assert response.status_code == 503 and "LLM_API_KEY" in response.json()["error"]


def test_description_required_and_reviewer_refused(client, project, member, llm, secret_trace):
    client.force_login(member(project, role="curator"))
    response = client.post("/api/v1/trace-views/generate/", {"trace": "secret-1"}, content_type="application/json")
    assert response.status_code == 400 and "description" in response.json()["fields"]
    client.force_login(member(project, role="reviewer"))
    with llm([json.dumps(VALID)]) as stub:
        response = client.post(
            "/api/v1/trace-views/generate/", {"description": "x", "trace": "secret-1"}, content_type="application/json"
        )
    assert response.status_code == 403 and stub.requests == []
