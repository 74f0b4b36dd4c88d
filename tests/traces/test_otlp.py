"""POST /v1/traces: the real OpenTelemetry SDK exporter, OTLP JSON by hand, semantic-convention mapping."""

from __future__ import annotations

import gzip
import json

import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.trace import Status, StatusCode

from apps.traces.models import Span, Trace

URL = "/v1/traces"
TRACE_HEX = "5b8efff798038103d269b633813fc60c"


def sdk_provider(endpoint: str, key: str, compression=Compression.NoCompression):
    exporter = OTLPSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {key}"}, compression=compression)
    provider = TracerProvider(
        resource=Resource.create({"service.name": "support-bot", "deployment.environment": "prod"})
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def emit_agent_trace(provider) -> None:
    tracer = provider.get_tracer("support-bot.agent", "1.2.0")
    with tracer.start_as_current_span("agent-run") as root:
        root.set_attribute("openinference.span.kind", "AGENT")
        root.set_attribute("input.value", json.dumps({"question": "Where is my parcel?"}))
        root.set_attribute("input.mime_type", "application/json")
        root.set_attribute("output.value", "It ships tomorrow.")
        root.set_attribute("user.id", "u-42")
        root.set_attribute("session.id", "s-7")
        root.set_attribute("tag.tags", ["prod", "beta"])
        with tracer.start_as_current_span("chat gpt-4o") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o")
            llm.set_attribute("gen_ai.response.model", "gpt-4o-2024-08-06")
            llm.set_attribute("gen_ai.usage.input_tokens", 120)
            llm.set_attribute("gen_ai.usage.output_tokens", 30)
            llm.set_attribute(
                "gen_ai.input.messages",
                json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Where is my parcel?"}]}]),
            )
            llm.set_attribute(
                "gen_ai.output.messages",
                json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "It ships tomorrow."}]}]),
            )
            llm.set_attribute("server.address", "api.openai.com")
            llm.add_event("gen_ai.choice", {"index": 0})
        with tracer.start_as_current_span("lookup_order") as tool:
            tool.set_attribute("openinference.span.kind", "TOOL")
            tool.set_attribute("tool.name", "lookup_order")
            try:
                raise TimeoutError("orders service timed out")
            except TimeoutError as exc:
                tool.record_exception(exc)
                tool.set_status(Status(StatusCode.ERROR, "orders service timed out"))


@pytest.mark.django_db(transaction=True)
def test_real_sdk_exporter_protobuf(project, key_client, live_server):
    key = key_client(project, scopes=("ingest",)).raw_key
    provider, _ = sdk_provider(f"{live_server.url}{URL}", key)
    emit_agent_trace(provider)
    provider.shutdown()

    trace = Trace.objects.get(project=project)
    assert trace.span_count == 3 and trace.name == "agent-run"
    assert (trace.user_id, trace.session_id) == ("u-42", "s-7")
    assert trace.has_error is True and trace.total_tokens == 150
    assert trace.input_preview == "Where is my parcel?"
    assert trace.output_preview == "It ships tomorrow."
    assert trace.tags == ["beta", "prod"]

    root = Span.objects.get(project=project, name="agent-run")
    assert root.type == "task" and root.parent_span_id == "" and len(root.span_id) == 16
    assert root.input == {"question": "Where is my parcel?"} and root.output == "It ships tomorrow."
    assert root.metadata["resource"]["service.name"] == "support-bot"
    assert root.metadata["otel.scope"] == {"name": "support-bot.agent", "version": "1.2.0"}
    assert "input.value" not in root.metadata and root.metadata["user.id"] == "u-42"

    llm = Span.objects.get(project=project, name="chat gpt-4o")
    assert llm.type == "llm" and llm.parent_span_id == root.span_id
    assert llm.model == "gpt-4o-2024-08-06"
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens) == (120, 30, 150)
    assert llm.input[0]["parts"][0]["content"] == "Where is my parcel?"
    assert llm.output[0]["role"] == "assistant"
    assert llm.metadata["server.address"] == "api.openai.com"
    assert llm.metadata["gen_ai.request.model"] == "gpt-4o"
    assert llm.metadata["events"][0]["name"] == "gen_ai.choice"
    assert llm.duration_ms is not None and llm.duration_ms >= 0

    tool = Span.objects.get(project=project, name="lookup_order")
    assert tool.type == "tool" and tool.is_error and tool.error == "orders service timed out"
    assert tool.metadata["events"][0]["name"] == "exception"


@pytest.mark.django_db(transaction=True)
def test_real_sdk_exporter_gzip_and_auth(project, other_project, key_client, live_server):
    key = key_client(project, scopes=("ingest",)).raw_key
    provider, exporter = sdk_provider(f"{live_server.url}{URL}", key, Compression.Gzip)
    emit_agent_trace(provider)
    provider.shutdown()
    assert Span.objects.filter(project=project).count() == 3

    read_only = key_client(project, scopes=("read",)).raw_key
    provider, exporter = sdk_provider(f"{live_server.url}{URL}", read_only)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("refused"):
        pass
    provider.shutdown()
    assert not Span.objects.filter(name="refused").exists()

    other_key = key_client(other_project, scopes=("ingest",)).raw_key
    provider, _ = sdk_provider(f"{live_server.url}{URL}", other_key)
    emit_agent_trace(provider)
    provider.shutdown()
    assert Span.objects.filter(project=project).count() == 3
    assert Span.objects.filter(project=other_project).count() == 3


def otlp_json(spans: list[dict], resource_attrs: list[dict] | None = None) -> dict:
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": resource_attrs or [{"key": "service.name", "value": {"stringValue": "rag-api"}}]
                },
                "scopeSpans": [{"scope": {"name": "openinference.instrumentation.langchain"}, "spans": spans}],
            }
        ]
    }


def attr(key: str, value) -> dict:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    if isinstance(value, list):
        return {"key": key, "value": {"arrayValue": {"values": [{"stringValue": v} for v in value]}}}
    return {"key": key, "value": {"stringValue": value}}


def json_span(span_id: str, name: str, attributes: list[dict], parent: str = "", **extra) -> dict:
    return {
        "traceId": TRACE_HEX,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": name,
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000001500000000",
        "attributes": attributes,
        **extra,
    }


def test_json_encoding_by_hand_with_openinference_and_old_gen_ai(project, key_client):
    spans = [
        json_span(
            "aaaaaaaaaaaaaaaa",
            "RetrievalQA",
            [
                attr("openinference.span.kind", "CHAIN"),
                attr("input.value", "What is the refund window?"),
                attr("output.value", '{"answer": "30 days"}'),
                attr("output.mime_type", "application/json"),
            ],
        ),
        json_span(
            "bbbbbbbbbbbbbbbb",
            "retrieve",
            [
                attr("openinference.span.kind", "RETRIEVER"),
                attr("retrieval.documents.0.document.id", "doc-9"),
            ],
            parent="aaaaaaaaaaaaaaaa",
        ),
        json_span(
            "cccccccccccccccc",
            "ChatOpenAI",
            [
                attr("openinference.span.kind", "LLM"),
                attr("llm.model_name", "gpt-4o-mini"),
                attr("llm.token_count.prompt", 50),
                attr("llm.token_count.completion", 7),
                attr("llm.token_count.total", 57),
                attr("llm.input_messages.0.message.role", "user"),
                attr("llm.input_messages.0.message.content", "What is the refund window?"),
                attr("llm.output_messages.0.message.role", "assistant"),
                attr("llm.output_messages.0.message.content", "30 days"),
            ],
            parent="aaaaaaaaaaaaaaaa",
        ),
        json_span(
            "dddddddddddddddd",
            "openai.chat",
            [
                attr("gen_ai.request.model", "gpt-3.5-turbo"),
                attr("gen_ai.usage.prompt_tokens", 11),
                attr("gen_ai.usage.completion_tokens", 4),
                attr("gen_ai.prompt.0.role", "system"),
                attr("gen_ai.prompt.0.content", "Be brief."),
                attr("gen_ai.prompt.1.role", "user"),
                attr("gen_ai.prompt.1.content", "Hi"),
                attr("gen_ai.completion.0.role", "assistant"),
                attr("gen_ai.completion.0.content", "Hello!"),
                attr("gen_ai.completion.0.finish_reason", "stop"),
                attr("llm.is_streaming", False),
            ],
            parent="cccccccccccccccc",
            status={"code": 2, "message": "content filter"},
        ),
        json_span(
            "eeeeeeeeeeeeeeee", "embed", [attr("openinference.span.kind", "EMBEDDING")], parent="aaaaaaaaaaaaaaaa"
        ),
        json_span(
            "ffffffffffffffff", "judge", [attr("openinference.span.kind", "EVALUATOR")], parent="aaaaaaaaaaaaaaaa"
        ),
    ]
    client = key_client(project, scopes=("ingest",))
    response = client.post(URL, data=json.dumps(otlp_json(spans)), content_type="application/json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == {}

    by_id = {s.span_id: s for s in Span.objects.filter(project=project)}
    chain, retriever, llm, old = (by_id[c * 16] for c in "abcd")
    assert (
        chain.type == "task" and chain.input == "What is the refund window?" and chain.output == {"answer": "30 days"}
    )
    assert chain.metadata["resource"] == {"service.name": "rag-api"} and chain.metadata["otel.span.kind"] == "client"
    assert chain.duration_ms == pytest.approx(1500)
    assert retriever.type == "retrieval" and retriever.metadata["retrieval.documents.0.document.id"] == "doc-9"
    assert llm.type == "llm" and llm.model == "gpt-4o-mini" and llm.total_tokens == 57
    assert llm.input == [{"role": "user", "content": "What is the refund window?"}]
    assert llm.output == [{"role": "assistant", "content": "30 days"}]
    assert old.type == "llm" and old.model == "gpt-3.5-turbo" and (old.input_tokens, old.output_tokens) == (11, 4)
    assert old.input == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert old.output == [{"role": "assistant", "content": "Hello!", "finish_reason": "stop"}]
    assert old.is_error and old.error == "content filter" and old.metadata["llm.is_streaming"] is False
    assert not any(k.startswith("gen_ai.prompt") for k in old.metadata)
    assert by_id["e" * 16].type == "function" and by_id["f" * 16].type == "eval"
    trace = Trace.objects.get(project=project, trace_id=TRACE_HEX)
    assert trace.span_count == 6 and trace.name == "RetrievalQA" and trace.has_error
    assert trace.output_preview == "30 days"


def test_json_partial_success_lists_rejected_spans(project, key_client):
    spans = [
        json_span("aaaaaaaaaaaaaaaa", "ok", []),
        json_span("", "no id", []),
        {**json_span("cccccccccccccccc", "bad time", []), "endTimeUnixNano": "1600000000000000000"},
    ]
    response = key_client(project, scopes=("ingest",)).post(
        URL, data=json.dumps(otlp_json(spans)), content_type="application/json"
    )
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "span 1: span_id" in partial["errorMessage"] and "span 2: end_time" in partial["errorMessage"]
    assert list(Span.objects.values_list("name", flat=True)) == ["ok"]


def test_protobuf_partial_success_and_gzip(project, key_client):
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    good = scope_spans.spans.add(
        trace_id=bytes.fromhex(TRACE_HEX),
        span_id=b"\x01" * 8,
        name="good",
        start_time_unix_nano=1_700_000_000_000_000_000,
    )
    good.attributes.add(key="gen_ai.usage.input_tokens").value.int_value = 5
    scope_spans.spans.add(trace_id=b"", span_id=b"\x02" * 8, name="no trace")
    body = gzip.compress(request.SerializeToString())
    response = key_client(project, scopes=("ingest",)).post(
        URL, data=body, content_type="application/x-protobuf", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/x-protobuf"
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1 and "trace_id" in answer.partial_success.error_message
    span = Span.objects.get()
    assert span.span_id == "0101010101010101" and span.input_tokens == 5


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"\xff\xff\xff\xff garbage", "application/x-protobuf", 400),
        (b"{broken", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"resourceSpans": "x"}', "application/json", 200),
        (b'{"resourceSpans": [{"scopeSpans": [{"spans": [1, "x"]}]}]}', "application/json", 200),
        (b"<xml/>", "application/xml", 415),
    ],
)
def test_bad_otlp_bodies_are_4xx(project, key_client, body, content_type, status):
    response = key_client(project, scopes=("ingest",)).post(URL, data=body, content_type=content_type)
    assert response.status_code == status, response.content
    assert not Span.objects.exists()


def test_deeply_nested_attribute_values_are_refused_not_crashed(project, key_client):
    value: dict = {"stringValue": "leaf"}
    for _ in range(300):
        value = {"arrayValue": {"values": [value]}}
    body = json.dumps(otlp_json([json_span("aaaaaaaaaaaaaaaa", "deep", [{"key": "deep", "value": value}])]))
    response = key_client(project, scopes=("ingest",)).post(URL, data=body, content_type="application/json")
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert not Span.objects.exists()


def test_otlp_auth(project, api_client, key_client):
    empty = ExportTraceServiceRequest().SerializeToString()
    assert api_client.post(URL, data=empty, content_type="application/x-protobuf").status_code == 401
    read_only = key_client(project, scopes=("read",))
    assert read_only.post(URL, data=empty, content_type="application/x-protobuf").status_code == 403


def test_exporter_reports_success(project, key_client, live_server, transactional_db):
    key = key_client(project, scopes=("ingest",)).raw_key
    exporter = OTLPSpanExporter(endpoint=f"{live_server.url}{URL}", headers={"Authorization": f"Bearer {key}"})
    provider = TracerProvider()
    spans = []

    class Collect(SimpleSpanProcessor):
        def on_end(self, span):
            spans.append(span)

    provider.add_span_processor(Collect(exporter))
    with provider.get_tracer("t").start_as_current_span("one"):
        pass
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    assert Span.objects.filter(name="one").count() == 1
