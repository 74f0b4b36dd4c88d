"""The OTLP path: traces whose root span carries `assay.experiment_id` and `assay.dataset_record_id`
become results (through the real OpenTelemetry SDK exporter, OTLP JSON, and REST ingest metadata)."""

from __future__ import annotations

import json

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from apps.experiments.models import ExperimentResult
from apps.traces.models import Span, Trace, TraceOrigin

pytestmark = pytest.mark.django_db


def _run_record(tracer, experiment_id, record_id: str, answer: str) -> None:
    """What an application's evaluation loop does for one record."""
    with tracer.start_as_current_span("eval-run") as root:
        root.set_attribute("assay.experiment_id", experiment_id)
        root.set_attribute("assay.dataset_record_id", record_id)
        root.set_attribute("input.value", json.dumps({"q": record_id}))
        root.set_attribute("output.value", answer)
        with tracer.start_as_current_span("chat") as llm:
            llm.set_attribute("gen_ai.operation.name", "chat")
            llm.set_attribute("gen_ai.request.model", "gpt-4o-mini")
            llm.set_attribute("gen_ai.usage.input_tokens", 40)
            llm.set_attribute("gen_ai.usage.output_tokens", 8)


def test_sdk_traces_with_experiment_attributes_become_results(live_server, client_a, experiment):
    exporter = OTLPSpanExporter(
        endpoint=f"{live_server.url}/v1/traces", headers={"Authorization": f"Bearer {client_a.raw_key}"}
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "refund-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("eval")
    _run_record(tracer, experiment.pk, "r1", "30 days")
    _run_record(tracer, str(experiment.pk), "r2", "ask the courier")  # as a string attribute too
    with tracer.start_as_current_span("production-call"):
        pass
    provider.shutdown()

    results = {r.record_id: r for r in ExperimentResult.objects.filter(experiment=experiment).select_related("span")}
    assert set(results) == {"r1", "r2"}
    r1 = results["r1"]
    assert r1.output == "30 days" and r1.input == {"q": "refund?"} and r1.expected == {"a": "30 days"}
    assert (r1.input_tokens, r1.output_tokens, r1.total_tokens) == (40, 8, 48)
    assert r1.span.name == "eval-run" and r1.span.parent_span_id == "" and r1.latency_ms is not None
    assert Trace.objects.get(trace_id=r1.trace_id).origin == TraceOrigin.EXPERIMENT
    assert Trace.objects.get(name="production-call").origin == TraceOrigin.PRODUCTION
    listed = [t["name"] for t in client_a.get("/api/v1/traces/").json()["results"]]
    assert listed == ["production-call"]


def _otlp_root(trace_id: str, attributes: dict, *, span_id: str = "00000000000000a1", parent: str = "") -> dict:
    values = [
        {"key": k, "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}}
        for k, v in attributes.items()
    ]
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": "eval-run" if not parent else "child",
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000002000000000",
        "attributes": values,
    }
    if parent:
        span["parentSpanId"] = parent
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


def _post_otlp(client, body):
    return client.generic("POST", "/v1/traces", json.dumps(body), content_type="application/json")


def test_children_arriving_later_update_the_result_and_bad_tags_write_nothing(
    client_a, client_b, experiment, django_capture_on_commit_callbacks
):
    tid = "5b8efff798038103d269b633813fc60c"
    root = _otlp_root(tid, {"assay.experiment_id": experiment.pk, "assay.dataset_record_id": "r3", "output.value": "x"})
    with django_capture_on_commit_callbacks(execute=True):
        assert _post_otlp(client_a, root).status_code == 200
    result = ExperimentResult.objects.get(record_id="r3")
    assert result.output == "x" and result.latency_ms == pytest.approx(2000, abs=1) and result.total_tokens == 0
    child = _otlp_root(tid, {"gen_ai.usage.input_tokens": 7}, span_id="00000000000000b2", parent="00000000000000a1")
    child["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append(
        {"key": "gen_ai.request.model", "value": {"stringValue": "m"}}
    )
    with django_capture_on_commit_callbacks(execute=True):
        _post_otlp(client_a, child)
    result.refresh_from_db()
    assert result.input_tokens == 7 and ExperimentResult.objects.count() == 1

    bad = [
        ("6b8efff798038103d269b633813fc60c", {"assay.experiment_id": experiment.pk, "assay.dataset_record_id": "r4"}),
        ("7b8efff798038103d269b633813fc60c", {"assay.experiment_id": "abc", "assay.dataset_record_id": "r1"}),
        ("8b8efff798038103d269b633813fc60c", {"assay.experiment_id": 999_999, "assay.dataset_record_id": "r1"}),
    ]
    for trace_id, attributes in bad:
        with django_capture_on_commit_callbacks(execute=True):
            answer = _post_otlp(client_a, _otlp_root(trace_id, attributes, span_id=trace_id[:16]))
            assert answer.status_code == 200 and answer.json() == {}
    # Another project naming this experiment's id writes into nothing of ours.
    with django_capture_on_commit_callbacks(execute=True):
        _post_otlp(
            client_b,
            _otlp_root("9b8efff798038103d269b633813fc60c", dict(bad[0][1], **{"assay.dataset_record_id": "r1"})),
        )
    assert list(ExperimentResult.objects.values_list("record_id", flat=True)) == ["r3"]
    assert Trace.objects.get(trace_id=bad[0][0]).origin == TraceOrigin.EXPERIMENT  # tagged: still no production


def test_rest_ingest_with_the_same_keys_in_metadata_makes_a_result(
    client_a, experiment, django_capture_on_commit_callbacks
):
    span = {
        "trace_id": "rest-run-1",
        "span_id": "rest-root",
        "output": {"answer": "link"},
        "metadata": {"assay.experiment_id": experiment.pk, "assay.dataset_record_id": "r3"},
        "metrics": {"input_tokens": 3, "output_tokens": 2, "cost": 0.01},
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert client_a.post("/api/v1/ingest/", {"spans": [span]}, format="json").status_code == 200
    result = ExperimentResult.objects.get()
    assert result.output == {"answer": "link"} and result.cost == pytest.approx(0.01)
    assert result.span_id == Span.objects.get(span_id="rest-root").pk and result.trace_id == "rest-run-1"
