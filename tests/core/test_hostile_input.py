"""The bad-input corpus: each class of hostile input on each endpoint family answers 4xx naming the
field, never 5xx, and keeps the good part of a batch. Runs on SQLite and (DATABASE_URL) PostgreSQL.

Classes: depth, U+0000, lone surrogates, out-of-range numbers, overflowing sums, time-zone offsets,
huge lists, oversized bodies. Families: ingest, OTLP JSON and protobuf, feedback, dataset records,
score configs, queue items, query strings, path ids — and a sweep over every API operation.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client, override_settings
from drf_spectacular.generators import SchemaGenerator
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from apps.datasets.models import DatasetRecord
from apps.projects.models import Role
from apps.queues.services.filling import review_items_add
from apps.reviews.models import Comment, ScoreConfig
from apps.traces.models import Span, Trace
from apps.traces.services import span_batch_ingest
from tests import factories

DEEP = b"[" * 10_000 + b"]" * 10_000
BIG = 2**62
LONE = '"\\ud800"'  # JSON text of a string holding a lone high surrogate
TRACE_HEX = "0af7651916cd43dd8448eb211c80319c"


def raw(client, url, text: str | bytes, method: str = "post", **extra):
    body = text.encode() if isinstance(text, str) else text
    return getattr(client, method)(url, data=body, content_type="application/json", **extra)


def fields(response) -> dict:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    body = response.json()
    assert body["error"]
    return body["fields"]


def rejected(response) -> dict[int, dict]:
    assert response.status_code == 200, response.content[:300]
    return {r["index"]: r["fields"] for r in response.json()["rejected"]}


@pytest.fixture
def ingest(project, key_client):
    return key_client(project, scopes=("ingest",))


@pytest.fixture
def writer(project, key_client):
    return key_client(project, scopes=("ingest", "read", "write"))


@pytest.fixture
def admin_session(project, member):
    client = Client()
    client.force_login(member(project, Role.ADMIN))
    return client


def good(span_id: str, trace_id: str = "t-good", **extra) -> dict:
    return {"trace_id": trace_id, "span_id": span_id, "name": "ok", "start_time": "2025-01-01T00:00:00Z", **extra}


# ------------------------------------------------------------------------------------------ ingest


def test_ingest_depth_rejects_the_deep_span_and_keeps_the_rest(ingest):
    deep = "[" * 300 + "]" * 300
    text = f'{{"spans": [{json.dumps(good("ok-1"))}, {{"trace_id": "t", "span_id": "deep", "input": {deep}}}]}}'
    assert rejected(raw(ingest, "/api/v1/ingest/", text)) == {1: {"input": ["Nested more than 254 levels deep."]}}
    assert list(Span.objects.values_list("span_id", flat=True)) == ["ok-1"]
    assert "body" in fields(raw(ingest, "/api/v1/ingest/", DEEP))


def test_ingest_nul_is_stripped_on_both_databases(ingest):
    item = good(
        "nul\u0000id",
        name="a\u0000b",
        input={"k\u0000": "v\u0000"},
        tags=["x\u0000y"],
        metadata={"user_id": "u\u00001"},
    )
    assert rejected(raw(ingest, "/api/v1/ingest/", json.dumps({"spans": [item]}))) == {}
    span = Span.objects.get()
    assert (span.span_id, span.name, span.input, span.tags) == ("nulid", "ab", {"k": "v"}, ["xy"])
    assert span.trace.user_id == "u1"


def test_ingest_lone_surrogates_reject_only_their_span(ingest):
    text = (
        '{"spans": [' + json.dumps(good("ok-1")) + ","
        f'{{"trace_id": "t", "span_id": "s-2", "input": {{"text": {LONE}}}}},'
        f'{{"trace_id": "t", "span_id": {LONE}}},' + json.dumps(good("ok-2")) + "]}"
    )
    errors = rejected(raw(ingest, "/api/v1/ingest/", text))
    assert set(errors) == {1, 2}
    assert "surrogate" in errors[1]["input.text"][0] and "span_id" in errors[2]
    assert sorted(Span.objects.values_list("span_id", flat=True)) == ["ok-1", "ok-2"]
    # Outside any span it cannot be an item error: 400 naming it.
    assert "project" in fields(
        raw(ingest, "/api/v1/ingest/", f'{{"project": {LONE}, "spans": [{json.dumps(good("x"))}]}}')
    )


@pytest.mark.parametrize(
    ("metrics", "field"),
    [
        ({"input_tokens": 2**70}, "metrics.input_tokens"),
        ({"input_tokens": BIG, "output_tokens": BIG}, "metrics.total_tokens"),  # 2^63: one past bigint
        ({"cost": -1}, "metrics.cost"),
        ({"cost": "1e400"}, "metrics.cost"),
    ],
)
def test_ingest_numbers_out_of_range_are_item_errors(ingest, metrics, field):
    body = {"spans": [good("bad", metrics=metrics), good("ok")]}
    assert field in rejected(raw(ingest, "/api/v1/ingest/", json.dumps(body)))[0]
    assert list(Span.objects.values_list("span_id", flat=True)) == ["ok"]


def test_ingest_overflowing_trace_sums_reject_the_span_that_would_overflow(project, ingest):
    body = {
        "spans": [
            good("a", "t-big", metrics={"input_tokens": BIG, "total_tokens": 1}),
            good("b", "t-big", metrics={"input_tokens": BIG, "total_tokens": 1}),  # 2^63 > bigint
            good("c", "t-cost", metrics={"cost": 1e308}),
            good("d", "t-cost", metrics={"cost": 1e308}),  # inf
            good("e", "t-cost", metrics={"cost": 1.5}),
            good("ok"),
        ]
    }
    errors = rejected(raw(ingest, "/api/v1/ingest/", json.dumps(body)))
    assert set(errors) == {1, 3}
    assert "metrics.input_tokens" in errors[1] and "metrics.cost" in errors[3]
    assert sorted(Span.objects.values_list("span_id", flat=True)) == ["a", "c", "e", "ok"]
    big, cost = Trace.objects.get(trace_id="t-big"), Trace.objects.get(trace_id="t-cost")
    assert big.input_tokens == BIG and cost.total_cost == pytest.approx(1e308)
    # Across batches too, and a re-sent span replaces its own amount rather than adding to it.
    later = {"spans": [good("f", "t-big", metrics={"input_tokens": BIG}), good("ok-2")]}
    assert "metrics.input_tokens" in rejected(raw(ingest, "/api/v1/ingest/", json.dumps(later)))[0]
    resent = {"spans": [good("a", "t-big", metrics={"input_tokens": BIG - 1, "total_tokens": 1})]}
    assert rejected(raw(ingest, "/api/v1/ingest/", json.dumps(resent))) == {}
    big.refresh_from_db()
    assert big.input_tokens == BIG - 1 and Span.objects.filter(span_id="ok-2").exists()


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("2025-01-01T00:00:00+20:00", False),
        ("2025-01-01T00:00:00-16:00", False),
        ("0001-01-01T00:00:00+01:00", False),
        ("2025-01-01T00:00:00-15:59", True),
        ("2025-01-01T00:00:00+14:00", True),
    ],
)
def test_ingest_time_zone_offsets_are_bounded(ingest, value, ok):
    response = raw(ingest, "/api/v1/ingest/", json.dumps({"spans": [good("s", start_time=value), good("ok")]}))
    errors = rejected(response)
    assert (errors == {}) is ok
    if not ok:
        assert "start_time" in errors[0]
    assert Span.objects.filter(span_id="ok").exists()


def test_ingest_huge_lists_and_bodies(ingest):
    assert (
        "tags"
        in rejected(
            raw(
                ingest,
                "/api/v1/ingest/",
                json.dumps({"spans": [good("s", tags=[f"t{i}" for i in range(101)]), good("ok")]}),
            )
        )[0]
    )
    many = raw(ingest, "/api/v1/ingest/", json.dumps({"spans": [good(f"s{i}") for i in range(5001)]}))
    assert many.status_code == 413 and "spans" in many.json()["fields"]
    with override_settings(INGEST_MAX_BODY_BYTES=1000):
        big = raw(ingest, "/api/v1/ingest/", json.dumps({"spans": [good("s", input="x" * 2000)]}))
    assert big.status_code == 413 and big["Content-Type"] == "application/json" and "body" in big.json()["fields"]
    assert list(Span.objects.values_list("span_id", flat=True)) == ["ok"]


def test_ingest_with_a_signed_in_session_as_documented(project, member):
    client = Client(enforce_csrf_checks=True)
    client.force_login(member(project, Role.REVIEWER))
    client.get("/admin/")  # sets the CSRF cookie, as the admin pages do for their scripts
    response = client.post(
        "/api/v1/ingest/?project=acme",
        data=json.dumps({"spans": [good("s")]}),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value,
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.content
    without_token = client.post(
        "/api/v1/ingest/?project=acme", data=json.dumps({"spans": [good("s2")]}), content_type="application/json"
    )
    assert without_token.status_code == 403


# ---------------------------------------------------------------------------------------- OTLP JSON


def otlp_attr(key: str, value: dict) -> dict:
    return {"key": key, "value": value}


def otlp_span(span_id: str, attributes: list[dict], trace: str = TRACE_HEX) -> dict:
    return {
        "traceId": trace,
        "spanId": span_id,
        "name": "op",
        "startTimeUnixNano": "1700000000000000000",
        "attributes": attributes,
    }


def otlp_body(*spans: dict) -> str:
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": list(spans)}]}]})


def otlp_rejected(response) -> str:
    assert response.status_code == 200, response.content[:300]
    return response.json().get("partialSuccess", {}).get("errorMessage", "")


@pytest.mark.parametrize(
    "value",
    [
        {"arrayValue": []},
        {"arrayValue": "x"},
        {"arrayValue": {"values": {"a": 1}}},
        {"kvlistValue": [1]},
        {"kvlistValue": {"values": "x"}},
    ],
)
def test_otlp_json_values_of_the_wrong_shape_are_span_errors(ingest, value):
    body = otlp_body(otlp_span("aaaaaaaaaaaaaaaa", [otlp_attr("bad", value)]), otlp_span("bbbbbbbbbbbbbbbb", []))
    message = otlp_rejected(raw(ingest, "/v1/traces", body))
    assert "span 0: attributes.bad:" in message
    assert list(Span.objects.values_list("span_id", flat=True)) == ["bbbbbbbbbbbbbbbb"]


def test_otlp_json_depth_nul_surrogates_and_sums(ingest):
    assert "body" in fields(raw(ingest, "/v1/traces", DEEP))
    nested: dict = {"stringValue": "leaf"}
    for _ in range(100):
        nested = {"arrayValue": {"values": [nested]}}
    tokens = {"intValue": str(BIG)}
    text = otlp_body(
        otlp_span("aaaaaaaaaaaaaaaa", [otlp_attr("deep", nested)]),
        otlp_span("bbbbbbbbbbbbbbbb", [otlp_attr("k\u0000", {"stringValue": "v\u0000"})]),
        otlp_span("cccccccccccccccc", [otlp_attr("gen_ai.usage.input_tokens", tokens)]),
        otlp_span("dddddddddddddddd", [otlp_attr("gen_ai.usage.input_tokens", tokens)]),
        otlp_span("eeeeeeeeeeeeeeee", [otlp_attr("text", {"stringValue": "SURROGATE"})]),
    ).replace('"SURROGATE"', LONE)
    message = otlp_rejected(raw(ingest, "/v1/traces", text))
    assert "span 0: attributes.deep" in message and "span 3: metrics.input_tokens" in message
    assert "span 4: attributes[0].value.stringValue" in message and "surrogate" in message
    assert sorted(Span.objects.values_list("span_id", flat=True)) == ["bbbbbbbbbbbbbbbb", "cccccccccccccccc"]
    assert Span.objects.get(span_id="bbbbbbbbbbbbbbbb").metadata["k"] == "v"


# ----------------------------------------------------------------------------------- OTLP protobuf


def test_otlp_protobuf_overflowing_sums_nul_and_size(ingest):
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for i, (key, value) in enumerate(
        [
            ("gen_ai.usage.cost", 1e308),
            ("gen_ai.usage.cost", 1e308),
            ("gen_ai.usage.input_tokens", BIG),
            ("gen_ai.usage.output_tokens", BIG),
            ("k\u0000", "v\u0000"),
        ]
    ):
        span = spans.add(
            trace_id=bytes.fromhex(TRACE_HEX),
            span_id=bytes([i + 1]) * 8,
            name=f"s{i}",
            start_time_unix_nano=1_700_000_000_000_000_000,
        )
        attribute = span.attributes.add(key=key)
        if isinstance(value, str):
            attribute.value.string_value = value
        elif isinstance(value, float):
            attribute.value.double_value = value
        else:
            attribute.value.int_value = value
    response = ingest.post("/v1/traces", data=request.SerializeToString(), content_type="application/x-protobuf")
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert answer.rejected_spans == 2, answer.error_message
    assert "span 1: metrics.cost" in answer.error_message and "span 3: metrics.total_tokens" in answer.error_message
    assert Span.objects.count() == 3 and Span.objects.get(name="s4").metadata["k"] == "v"
    trace = Trace.objects.get()
    assert trace.total_cost == pytest.approx(1e308) and trace.input_tokens == BIG
    with override_settings(INGEST_MAX_BODY_BYTES=10):
        big = ingest.post("/v1/traces", data=request.SerializeToString(), content_type="application/x-protobuf")
    assert big.status_code == 413 and "body" in big.json()["fields"]


def test_an_inf_cost_already_stored_does_not_break_the_trace_list(project, writer):
    span_batch_ingest(project=project, items=[good("s")])
    Trace.objects.update(total_cost=float("inf"))
    response = writer.get("/api/v1/traces/")
    assert response.status_code == 200 and response.json()["results"][0]["total_cost"] is None
    assert writer.get("/api/v1/traces/t-good/").status_code == 200


# ----------------------------------------------------------------------------------------- feedback


@pytest.fixture
def span(project):
    span_batch_ingest(project=project, items=[good("fb-span")])
    return Span.objects.get(span_id="fb-span")


def test_feedback_hostile_bodies(project, writer, span):
    url = "/api/v1/feedback/"
    factories.ScoreConfigFactory(project=project, name="helpful")
    assert "body" in fields(raw(writer, url, DEEP))
    assert "comment" in fields(raw(writer, url, f'{{"span_id": "fb-span", "comment": {LONE}}}'))
    assert "tags" in fields(raw(writer, url, json.dumps({"span_id": "fb-span", "tags": [f"t{i}" for i in range(101)]})))
    assert "scores" in fields(
        raw(writer, url, json.dumps({"span_id": "fb-span", "scores": {f"c{i}": 1 for i in range(100_000)}}))
    )
    assert "body" in fields(raw(writer, url, '{"span_id": "fb-span", "scores": {"helpful": 1e400}}'))
    assert "scores.helpful" in fields(
        raw(writer, url, json.dumps({"span_id": "fb-span", "scores": {"helpful": 1e300}}))
    )
    assert not Comment.objects.exists()
    ok = raw(
        writer,
        url,
        json.dumps(
            {"span_id": "fb-span", "comment": "a\u0000b", "tags": ["x\u0000"], "metadata": {"k\u0000": "v\u0000"}}
        ),
    )
    assert ok.status_code == 201, ok.content
    assert Comment.objects.get().text == "ab"
    span.refresh_from_db()
    assert span.tags == ["x"] and span.annotation_metadata == {"k": "v"}
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        big = raw(writer, url, json.dumps({"span_id": "fb-span", "comment": "x" * 500}))
    assert big.status_code == 413 and big["Content-Type"] == "application/json" and "body" in big.json()["fields"]


# ---------------------------------------------------------------------------------- dataset records


def test_dataset_records_hostile_bodies(project, writer):
    dataset = factories.DatasetFactory(project=project)
    url = f"/api/v1/datasets/{dataset.pk}/records/"
    deep = "[" * 150 + "]" * 150
    errors = fields(raw(writer, url, f'{{"records": [{{"input": "ok"}}, {{"input": {deep}}}]}}'))
    assert any(name.startswith("records[1].input") for name in errors)
    errors = fields(raw(writer, url, f'{{"records": [{{"input": "ok"}}, {{"input": {{"q": {LONE}}}}}]}}'))
    assert list(errors) == ["records[1].input.q"]
    errors = fields(raw(writer, url, f'{{"records": [{{"input": {{{LONE}: {{"x": {LONE}}}}}}}]}}'))
    assert sorted(errors) == ["records[0].input (a key)", "records[0].input.\\ud800.x"]
    assert fields(raw(writer, url, json.dumps({"records": [{"input": i} for i in range(1001)]})))["records"]
    assert not DatasetRecord.objects.exists()  # records are all-or-nothing by design (docs/api.md)
    ok = raw(writer, url, json.dumps({"records": [{"record_id": "r\u00001", "input": {"q\u0000": "a\u0000"}}]}))
    assert ok.status_code == 201, ok.content
    assert DatasetRecord.objects.get().record_id == "r1" and DatasetRecord.objects.get().input == {"q": "a"}
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        big = raw(writer, url, json.dumps({"records": [{"input": "x" * 500}]}))
    assert big.status_code == 413 and big.json()["fields"]["body"]


# ------------------------------------------------------------------------------------ score configs


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"name": "a", "kind": "boolean", "order": 2147483648}', "order"),
        ('{"name": "a", "kind": "boolean", "order": -2147483649}', "order"),
        ('{"name": "a", "kind": "boolean", "order": 1e30}', "order"),
        ('{"name": "a", "kind": "continuous", "min_value": 1e400}', "body"),
        ('{"name": "a", "kind": "categorical", "options": [{"label": "x", "value": 1e999}]}', "body"),
        (f'{{"name": {LONE}, "kind": "boolean"}}', "name"),
        ('{"name": "a", "kind": "text", "max_length": 99999999999999999999}', "max_length"),
    ],
)
def test_score_config_numbers_are_checked_against_their_columns(writer, body, field):
    assert field in fields(raw(writer, "/api/v1/score-configs/", body))
    assert not ScoreConfig.objects.exists()


def test_score_config_nul_is_stripped(writer):
    response = raw(writer, "/api/v1/score-configs/", '{"name": "a\\u0000b", "kind": "boolean", "order": 2147483647}')
    assert response.status_code == 201 and ScoreConfig.objects.get().name == "ab"
    pk = ScoreConfig.objects.get().pk
    assert "order" in fields(raw(writer, f"/api/v1/score-configs/{pk}/", '{"order": 9e18}', method="patch"))


# -------------------------------------------------------------------------------------- queue items


def test_queue_items_hostile_bodies(project, admin_session, span):
    queue = factories.ReviewQueueFactory(project=project)
    url = f"/api/v1/review-queues/{queue.pk}/items/"
    assert "body" in fields(raw(admin_session, url, DEEP))
    assert "span_ids[0]" in fields(raw(admin_session, url, f'{{"span_ids": [{LONE}]}}'))
    assert "span_ids" in fields(raw(admin_session, url, json.dumps({"span_ids": ["x"] * 10_001})))
    assert "span_filter.start_time_after" in fields(
        raw(admin_session, url, json.dumps({"span_filter": {"start_time_after": "2025-01-01T00:00:00+23:00"}}))
    )
    nul = raw(admin_session, url, json.dumps({"span_ids": ["fb-\u0000span"]}))
    assert nul.status_code == 200 and nul.json()["not_found"] == [], nul.content
    review_items_add(queue=queue, spans=Span.objects.all())
    item = queue.items.get()
    item_url = f"/api/v1/review-queues/{queue.pk}/items/{item.pk}/"
    assert "status" in fields(raw(admin_session, item_url, f'{{"status": {LONE}}}', method="patch"))
    assert "assignee" in fields(raw(admin_session, item_url, json.dumps({"assignee": 2**70}), method="patch"))
    assert "body" in fields(raw(admin_session, item_url + "submit/", DEEP))


# ------------------------------------------------------------------------ query strings and path ids


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/traces/?start_time_after=2025-01-01T00:00:00%2B20:00", "start_time_after"),
        ("/api/v1/traces/?end_time_before=0001-01-01T00:00:00%2B01:00", "end_time_before"),
        ("/api/v1/spans/?start_time_before=2025-01-01T00:00:00-16:00", "start_time_before"),
        ("/api/v1/scores/?created_after=2025-01-01T00:00:00%2B23:59", "created_after"),
        ("/api/v1/traces/?min_duration_ms=1e400", "min_duration_ms"),
        ("/api/v1/spans/?max_duration_ms=nan", "max_duration_ms"),
        ("/api/v1/traces/?name=a%00b", "name"),
        ("/api/v1/spans/?metadata=k:%00", "metadata"),
        ("/api/v1/score-configs/?name=%00", "name"),
        ("/api/v1/traces/?x%00y=1", "x\\u0000y"),
        ("/admin/traces/trace/?q=%00", None),
    ],
)
def test_query_strings(writer, admin_session, url, field):
    client = admin_session if url.startswith("/admin/") else writer
    response = client.get(url)
    assert response.status_code == 400, response.content[:300]
    if field:
        assert field in response.json()["fields"]


def test_out_of_range_query_numbers_are_not_5xx(project, writer):
    dataset = factories.DatasetFactory(project=project)
    for url in [
        "/api/v1/traces/?page_size=99999999999999999999",
        "/api/v1/traces/?cursor=%ff%fe",
        f"/api/v1/datasets/{dataset.pk}/records/?version=99999999999999999999",
        f"/api/v1/datasets/{dataset.pk}/diff/?a=1&b=99999999999999999999",
        "/api/v1/review-queues/1/items/?assignee=%C2%B2",
        "/api/v1/scores/?value_gte=1e999",
    ]:
        response = writer.get(url)
        assert 400 <= response.status_code < 500, (url, response.status_code, response.content[:200])


def test_nul_in_headers_is_400(project, writer, api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer abc\u0000def")
    response = api_client.get("/api/v1/traces/")
    assert response.status_code == 400 and "AUTHORIZATION" in response.json()["fields"]
    assert Client(HTTP_COOKIE="sessionid=a\u0000b").get("/admin/").status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/traces/a%00b/",
        "/api/v1/spans/%00/",
        "/api/v1/spans/x%00/annotations/",
        "/api/v1/datasets/99999999999999999999/",
        "/api/v1/datasets/99999999999999999999/records/",
        "/api/v1/trace-views/%C2%B2/",
        "/api/v1/share-links/99999999999999999999/",
        "/api/v1/review-queues/99999999999999999999/items/99999999999999999999/",
        "/api/v1/score-configs/99999999999999999999/",
        "/admin/traces/trace/%00/change/",
    ],
)
def test_path_ids(writer, admin_session, path):
    client = admin_session if path.startswith("/admin/") else writer
    assert client.get(path).status_code == 404


# ------------------------------------------------------------------- every operation DRF parses


def _operations():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    for path, methods in schema["paths"].items():
        for method in methods:
            yield path, method


def test_every_operation_survives_deep_nul_and_surrogate_bodies(project, admin_session, writer, span):
    """10,000-deep JSON, U+0000 and a lone surrogate at every write operation in the schema: 4xx or
    success, never a 5xx (a RecursionError or a database error)."""
    dataset = factories.DatasetFactory(project=project)
    queue = factories.ReviewQueueFactory(project=project)
    review_items_add(queue=queue, spans=Span.objects.all())
    ids = {
        "datasets": dataset.pk,
        "review-queues": queue.pk,
        "score-configs": factories.ScoreConfigFactory(project=project).pk,
        "trace-views": factories.TraceViewFactory(project=project).pk,
    }
    values = {
        "queue_pk": queue.pk,
        "item_pk": queue.items.get().pk,
        "number": 1,
        "record_id": "r-1",
        "name": "prod",
        "span_id": "fb-span",
        "trace_id": "t-good",
    }
    bodies = [
        DEEP,
        b'{"name": "a\\u0000", "span_id": "fb-span", "comment": "\\u0000", "spec": {"k": "\\u0000"}}',
        b'{"name": ' + LONE.encode() + b', "comment": ' + LONE.encode() + b"}",
        json.dumps(
            {
                key: 2**70
                for key in (
                    "id",
                    "dataset",
                    "version",
                    "queue",
                    "trace",
                    "count",
                    "order",
                    "reservation_minutes",
                    "reviewers_per_item",
                    "expires_in_hours",
                    "sample_size",
                    "number",
                    "span_ids",
                    "assignee",
                    "max_length",
                )
            }
            | {
                "start_time_after": "2025-01-01T00:00:00+23:00",
                "name": "n",
                "kind": "boolean",
                "filters": {"start_time_after": "2025-01-01T00:00:00-23:00"},
            }
        ).encode(),
        json.dumps(
            {
                "name": "n",
                "source": "dataset",
                "dataset": 10**30,
                "format": "jsonl",
                "version": 10**30,
                "filters": {"min_duration_ms": 1e308, "max_duration_ms": -1e308},
                "records": [{"input": 1, "source_span_id": 2**63}],
                "trace": str(10**30),
                "expires_in_hours": 1e308,
                "record_ids": [str(10**30)],
            }
        ).encode(),
    ]
    checked = 0
    for path, method in _operations():
        if method not in ("post", "put", "patch", "delete"):
            continue
        family = path.split("/")[3] if path.startswith("/api/v1/") else ""

        def fill(match, family=family):
            name = match.group(1)
            return str(values.get(name, ids.get(family, 1)) if name != "id" else ids.get(family, 1))

        url = re.sub(r"\{(\w+)\}", fill, path)
        for client in (admin_session, writer):
            for body in bodies:
                response = raw(client, url, body, method=method)
                assert response.status_code < 500, (method, url, body[:40], response.content[:300])
                checked += 1
    assert checked > 100
