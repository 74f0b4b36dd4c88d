"""POST /api/v1/ingest/: auth, upsert, partial failure, limits, gzip, bad input, concurrency."""

from __future__ import annotations

import gzip
import json
import threading
import zlib

import httpx
import pytest
from django.test import override_settings

from apps.projects.models import Role
from apps.traces.models import Span, Trace
from tests.traces.test_services import T0, agent_trace

URL = "/api/v1/ingest/"


def post_json(client, payload, **headers):
    return client.post(URL, data=json.dumps(payload), content_type="application/json", **headers)


def test_ingest_batch_answers_counts(project, key_client):
    client = key_client(project, scopes=("ingest",))
    response = post_json(client, {"spans": agent_trace()})
    assert response.status_code == 200, response.content
    assert response.json() == {"accepted": 3, "rejected": []}
    trace = Trace.objects.get(project=project)
    assert trace.span_count == 3 and trace.name == "support-agent" and trace.total_tokens == 120


def test_bare_list_is_accepted(project, key_client):
    response = post_json(key_client(project, scopes=("ingest",)), agent_trace())
    assert response.status_code == 200 and response.json()["accepted"] == 3


def test_same_batch_twice_is_idempotent(project, key_client):
    client = key_client(project, scopes=("ingest",))
    for _ in range(2):
        assert post_json(client, {"spans": agent_trace()}).status_code == 200
    assert Span.objects.filter(project=project).count() == 3
    assert Trace.objects.filter(project=project).count() == 1
    assert Trace.objects.get().span_count == 3


def test_out_of_order_batches_give_correct_summary(project, key_client):
    client = key_client(project, scopes=("ingest",))
    spans = agent_trace()
    post_json(client, {"spans": [spans[2]]})
    post_json(client, {"spans": [spans[1], spans[2]]})
    trace = Trace.objects.get()
    assert trace.root_span_id == "retrieve" and trace.span_count == 2
    post_json(client, {"spans": [spans[0]]})
    trace.refresh_from_db()
    assert (trace.root_span_id, trace.name, trace.span_count) == ("root", "support-agent", 3)
    assert trace.input_preview == "Where is my parcel?" and trace.duration_ms == pytest.approx(4500, abs=0.1)


def test_partial_failure_keeps_good_spans(project, key_client):
    spans = agent_trace()
    batch = [spans[0], {"trace_id": "t-1", "name": "no id"}, spans[1], {"span_id": "x", "trace_id": "t", "tags": "a"}]
    response = post_json(key_client(project, scopes=("ingest",)), {"spans": batch})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 1, "fields": {"span_id": ["This field is required."]}},
        {"index": 3, "fields": {"tags": ["Expected a list of strings."]}},
    ]
    assert set(Span.objects.values_list("span_id", flat=True)) == {"root", "retrieve"}


def test_everything_rejected_is_400(project, key_client):
    response = post_json(key_client(project, scopes=("ingest",)), {"spans": [{"trace_id": "t"}]})
    assert response.status_code == 400
    body = response.json()
    assert body["accepted"] == 0 and body["rejected"][0]["fields"] == {"span_id": ["This field is required."]}
    assert body["error"] and "spans" in body["fields"]


GOOD = {"trace_id": "t-1", "span_id": "s-1"}


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"trace_id": "t-1"}, "span_id"),
        ({"span_id": "s-1"}, "trace_id"),
        ({**GOOD, "span_id": {"x": 1}}, "span_id"),
        ({**GOOD, "trace_id": "x" * 129}, "trace_id"),
        ({**GOOD, "parent_span_id": 1.5}, "parent_span_id"),
        ({**GOOD, "name": 12}, "name"),
        ({**GOOD, "type": "agent"}, "type"),
        ({**GOOD, "type": 3}, "type"),
        ({**GOOD, "start_time": "last tuesday"}, "start_time"),
        ({**GOOD, "start_time": True}, "start_time"),
        ({**GOOD, "end_time": -5}, "end_time"),
        ({**GOOD, "end_time": 1e30}, "end_time"),
        ({**GOOD, "start_time": "99999-01-01T00:00:00"}, "start_time"),
        ({**GOOD, "start_time": T0 + 5, "end_time": T0}, "end_time"),
        ({**GOOD, "metadata": "user=1"}, "metadata"),
        ({**GOOD, "metadata": [1, 2]}, "metadata"),
        ({**GOOD, "metrics": [1]}, "metrics"),
        ({**GOOD, "metrics": {"input_tokens": -1}}, "metrics.input_tokens"),
        ({**GOOD, "metrics": {"completion_tokens": "lots"}}, "metrics.completion_tokens"),
        ({**GOOD, "metrics": {"total_tokens": 2**70}}, "metrics.total_tokens"),
        ({**GOOD, "metrics": {"cost": "free"}}, "metrics.cost"),
        ({**GOOD, "metrics": {"model": ["a"]}}, "metrics.model"),
        ({**GOOD, "tags": ["ok", "x" * 201]}, "tags"),
        ({**GOOD, "tags": [1, 2]}, "tags"),
        ({**GOOD, "tags": "prod"}, "tags"),
        ({**GOOD, "error": 500}, "error"),
        ({**GOOD, "input": json.loads("[" * 300 + "]" * 300)}, "input"),
        ({**GOOD, "metadata": {"a": json.loads("[" * 300 + "]" * 300)}}, "metadata"),
        ({**GOOD, "error": {"detail": json.loads("[" * 300 + "]" * 300)}}, "error"),
    ],
)
def test_bad_items_name_their_field(project, key_client, item, field):
    response = post_json(key_client(project, scopes=("ingest",)), {"spans": [item, {**GOOD, "span_id": "ok"}]})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert body["rejected"][0]["index"] == 0 and field in body["rejected"][0]["fields"]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"", "application/json"),
        (b"\xff\xfe\x00", "application/json"),
        (b'"\\ud800"', "application/json"),
        (b'{"spans": {"a": 1}}', "application/json"),
        (b'{"spans": []}', "application/json"),
        (b"42", "application/json"),
        (b"null", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (b'{"spans": [1, "a", null, []]}', "application/json"),
        (b"trace_id=1", "application/x-www-form-urlencoded"),
    ],
)
def test_malformed_bodies_are_400(project, key_client, body, content_type):
    response = key_client(project, scopes=("ingest",)).post(URL, data=body, content_type=content_type)
    assert response.status_code == 400, response.content
    assert "error" in response.json()


def test_awkward_but_valid_values_are_stored(project, key_client):
    item = {
        "trace_id": 12345,
        "span_id": "nul\u0000-id",
        "name": "n" * 400,
        "type": "LLM",
        "input": {"text": "a\u0000b", "k\u0000": [0.25, None, True]},
        "output": "\\u0000 literal",
        "metadata": {"deep": {"deeper": {"x": "\u2603"}}},
        "error": True,
        "start_time": "1700000000",
        "end_time": T0 * 1000 + 500,
    }
    response = post_json(key_client(project, scopes=("ingest",)), {"spans": [item]})
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content
    span = Span.objects.get()
    assert span.span_id == "nul-id" and span.trace.trace_id == "12345" and len(span.name) == 255
    assert span.type == "llm" and span.is_error and span.duration_ms == pytest.approx(500)
    assert span.input == {"text": "ab", "k": [0.25, None, True]} and span.output == "\\u0000 literal"


def test_gzip_body(project, key_client):
    body = gzip.compress(json.dumps({"spans": agent_trace()}).encode())
    response = key_client(project, scopes=("ingest",)).post(
        URL, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 200 and response.json()["accepted"] == 3


def test_deflate_body(project, key_client):
    body = zlib.compress(json.dumps({"spans": agent_trace()}).encode())
    client = key_client(project, scopes=("ingest",))
    response = client.post(URL, data=body, content_type="application/json", HTTP_CONTENT_ENCODING="deflate")
    assert response.status_code == 200 and response.json()["accepted"] == 3
    assert Span.objects.filter(project=project).count() == 3
    bad = client.post(URL, data=b"not deflate", content_type="application/json", HTTP_CONTENT_ENCODING="deflate")
    assert bad.status_code == 400 and "body" in bad.json()["fields"]


def test_bad_gzip_and_unknown_encoding(project, key_client):
    client = key_client(project, scopes=("ingest",))
    bad = client.post(URL, data=b"not gzip", content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert bad.status_code == 400 and "body" in bad.json()["fields"]
    truncated = gzip.compress(json.dumps(agent_trace()).encode())[:-20]
    cut = client.post(URL, data=truncated, content_type="application/json", HTTP_CONTENT_ENCODING="gzip")
    assert cut.status_code == 400
    unknown = client.post(URL, data=b"[]", content_type="application/json", HTTP_CONTENT_ENCODING="br")
    assert unknown.status_code == 415


@override_settings(INGEST_MAX_BODY_BYTES=2_000)
def test_body_over_limit_is_413(project, key_client):
    spans = [dict(GOOD, span_id=f"s-{i}", input="x" * 100) for i in range(30)]
    response = post_json(key_client(project, scopes=("ingest",)), {"spans": spans})
    assert response.status_code == 413
    assert "body" in response.json()["fields"]
    assert not Span.objects.exists()


@override_settings(INGEST_MAX_BODY_BYTES=100_000)
def test_gzip_bomb_is_413(project, key_client):
    bomb = gzip.compress(b'{"spans": [' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 100_000
    response = key_client(project, scopes=("ingest",)).post(
        URL, data=bomb, content_type="application/json", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 413


def test_too_many_spans_is_413(project, key_client):
    spans = [{"trace_id": "t", "span_id": str(i)} for i in range(5_001)]
    response = post_json(key_client(project, scopes=("ingest",)), spans)
    assert response.status_code == 413 and not Span.objects.exists()


def test_no_key_is_401(project, api_client):
    response = post_json(api_client, {"spans": agent_trace()})
    assert response.status_code == 401
    bad = post_json(api_client, {"spans": agent_trace()}, HTTP_AUTHORIZATION="Bearer nope.nope")
    assert bad.status_code == 401
    assert not Span.objects.exists()


def test_key_without_ingest_scope_is_403(project, key_client):
    response = post_json(key_client(project, scopes=("read", "write", "feedback")), {"spans": agent_trace()})
    assert response.status_code == 403 and not Span.objects.exists()


def test_key_writes_only_into_its_own_project(project, other_project, key_client):
    post_json(key_client(project, scopes=("ingest",)), {"spans": agent_trace()})
    span = Span.objects.get(project=project, span_id="llm")
    # The other project's key, the same ids, even naming this project: it lands in the other project.
    response = post_json(
        key_client(other_project, scopes=("ingest",)),
        {"project": "acme", "spans": [dict(s, name="evil") for s in agent_trace()]},
    )
    assert response.status_code == 200
    span.refresh_from_db()
    assert span.name == "chat"
    assert Span.objects.filter(project=other_project, name="evil").count() == 3
    assert Trace.objects.get(project=project).span_count == 3


def test_session_member_ingests_into_named_project(project, other_project, member, api_client):
    api_client.force_login(member(project, role=Role.REVIEWER))
    assert post_json(api_client, {"project": "acme", "spans": agent_trace()}).status_code == 200
    assert Span.objects.filter(project=project).count() == 3
    assert post_json(api_client, {"project": "other", "spans": agent_trace()}).status_code == 404
    viewer = member(other_project, role=Role.VIEWER)
    api_client.force_login(viewer)
    assert post_json(api_client, {"project": "other", "spans": agent_trace()}).status_code == 403
    assert not Span.objects.filter(project=other_project).exists()


@pytest.mark.django_db(transaction=True)
def test_concurrent_clients_posting_the_same_batches(project, key_client, live_server):
    key = key_client(project, scopes=("ingest",)).raw_key
    spans = [s for n in range(25) for s in agent_trace(trace_id=f"t-{n}", prefix=f"{n}-")]
    batches = [spans[:40], spans[20:], list(reversed(spans))]
    barrier = threading.Barrier(10)
    statuses: list = []

    def client():
        with httpx.Client(base_url=live_server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            barrier.wait()
            for batch in batches:
                response = http.post(URL, json={"spans": batch})
                statuses.append((response.status_code, response.json()))

    threads = [threading.Thread(target=client) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(statuses) == 30
    assert all(status == 200 and body["rejected"] == [] for status, body in statuses), statuses[:3]
    assert Span.objects.filter(project=project).count() == 75
    assert Trace.objects.filter(project=project).count() == 25
    assert set(Trace.objects.values_list("span_count", flat=True)) == {3}
