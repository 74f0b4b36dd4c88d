"""The two ingest endpoints: `POST /api/v1/ingest/` (JSON) and `POST /v1/traces` (OTLP/HTTP).

Both take the raw body (`RawBodyParser`: the body may be gzip and is parsed once, through
`apps.core.parsing.json_parse` or protobuf), enforce `INGEST_MAX_BODY_BYTES` on the sent and on
the decompressed size, and hand the span items to `span_batch_ingest`. Items that cannot become
spans (lone surrogates in their text, OTLP values of the wrong shape) travel as `RejectedItem`s,
so they are listed with their index and the rest of the batch is stored.
"""

from __future__ import annotations

import zlib
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError
from apps.core.parsing import JSON_PARSE_DEPTH_MAX, RawBodyParser, json_parse, too_large
from apps.projects.api_scope import request_project

from . import otlp
from .ingest import RejectedItem
from .services import span_batch_ingest

MAX_BATCH_SPANS = 5_000
_DECOMPRESS_CHUNK = 1 << 20


class IngestRejectedSpanSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the span in the batch.")
    fields = serializers.DictField(help_text="Each field at fault and its messages.")


INGEST_RESULT = inline_serializer(
    "IngestResult",
    {
        "accepted": serializers.IntegerField(),
        "rejected": IngestRejectedSpanSerializer(many=True),
    },
)
INGEST_REFUSED = inline_serializer(
    "IngestRefused",
    {
        "error": serializers.CharField(),
        "fields": serializers.DictField(),
        "accepted": serializers.IntegerField(required=False),
        "rejected": IngestRejectedSpanSerializer(many=True, required=False),
    },
)
OTLP_JSON_RESPONSE = inline_serializer(
    "OtlpExportTraceServiceResponse",
    {
        "partialSuccess": inline_serializer(
            "OtlpPartialSuccess",
            {
                "rejectedSpans": serializers.CharField(help_text="An int64, as a string (proto3 JSON)."),
                "errorMessage": serializers.CharField(),
            },
            required=False,
        ),
    },
)


def _too_large(limit: int) -> ApplicationError:
    error = too_large(limit)
    error.fields = {"body": [f"At most {limit} bytes (after decompression)."]}
    return error


def _decompress(body: bytes, encoding: str, limit: int) -> bytes:
    wbits = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
    if wbits is None:
        raise ApplicationError(
            f"Unsupported Content-Encoding {encoding!r}.",
            fields={"Content-Encoding": ["Use gzip, deflate or none."]},
            status=415,
        )
    decompressor = zlib.decompressobj(wbits)
    try:
        # max_length bounds memory: a small gzip bomb stops at the limit instead of expanding fully.
        data = decompressor.decompress(body, limit + 1)
        if len(data) > limit or decompressor.unconsumed_tail:
            raise _too_large(limit)
        data += decompressor.flush()
    except zlib.error:
        raise ApplicationError("The body is not valid gzip.", fields={"body": ["Bad compressed data."]})
    if len(data) > limit:
        raise _too_large(limit)
    if not decompressor.eof:
        raise ApplicationError("The compressed body is truncated.", fields={"body": ["Bad compressed data."]})
    return data


def ingest_body(request) -> bytes:
    """The request body, decompressed, within the size limit (413 otherwise)."""
    limit = settings.INGEST_MAX_BODY_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApplicationError("Bad Content-Length.", fields={"Content-Length": ["Expected a number."]})
    if length > limit:
        raise _too_large(limit)
    body = request.data  # RawBodyParser: bytes, within the limit
    if not isinstance(body, bytes):  # no Content-Type: DRF parsed nothing
        body = request._request.body
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
    if encoding and encoding != "identity":
        body = _decompress(body, encoding, limit)
    return body


def _session_project_slug(request, payload: Any) -> str:
    """A member's session names the project with `project` in the body or query string."""
    slug = payload.get("project") if isinstance(payload, dict) else None
    slug = slug or request.query_params.get("project") or ""
    return slug if isinstance(slug, str) else ""


def items_with_text_errors(payload: Any, bad: dict[str, list[str]]) -> Any:
    """Spans holding lone surrogates become RejectedItems naming the field; elsewhere it is a 400."""
    if not bad:
        return payload
    items = payload.get("spans") if isinstance(payload, dict) else payload
    prefix = "spans" if isinstance(payload, dict) else ""
    per_item: dict[int, dict[str, list[str]]] = {}
    for path, messages in bad.items():
        head, sep, rest = path.partition("]")
        index = head.removeprefix(prefix + "[")
        if not (isinstance(items, list) and head.startswith(prefix + "[") and index.isdigit()):
            raise ApplicationError("Text with lone surrogates is not valid Unicode.", fields={path: messages})
        per_item.setdefault(int(index), {})[rest.lstrip(".") or "non_field_errors"] = messages
    for index, fields in per_item.items():
        items[index] = RejectedItem(fields)
    return payload


def _check_count(items: list) -> None:
    if len(items) > MAX_BATCH_SPANS:
        raise ApplicationError(
            f"At most {MAX_BATCH_SPANS} spans a request; send smaller batches.",
            fields={"spans": [f"At most {MAX_BATCH_SPANS} items."]},
            status=413,
        )


class IngestView(APIView):
    """Batch span ingest: upsert by span_id; each rejected item is listed with its index and fields."""

    required_scope = "ingest"
    # Answers (200/400/413) are built here; the (possibly gzip) body is decoded by the view.
    parser_classes = [RawBodyParser]

    @extend_schema(
        operation_id="ingest_spans",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={
            200: OpenApiResponse(INGEST_RESULT, description="Some or all spans accepted."),
            400: OpenApiResponse(
                INGEST_REFUSED,
                description="Malformed body, or every span rejected (`rejected` names each span's fields).",
            ),
        },
        examples=[
            OpenApiExample(
                "batch",
                value={
                    "spans": [
                        {
                            "trace_id": "t-1",
                            "span_id": "s-1",
                            "name": "chat",
                            "type": "llm",
                            "start_time": "2025-01-01T12:00:00Z",
                            "end_time": 1735732801.2,
                            "input": [{"role": "user", "content": "Hi"}],
                            "output": "Hello!",
                            "metrics": {"input_tokens": 5, "output_tokens": 2, "model": "gpt-4o-mini"},
                            "tags": ["prod"],
                        }
                    ]
                },
            )
        ],
    )
    def post(self, request):
        body = ingest_body(request)
        # Deep fields are refused per item (span_item_clean), so one deep span never costs the batch.
        payload, bad = json_parse(body, max_depth=JSON_PARSE_DEPTH_MAX, surrogates="collect")
        payload = items_with_text_errors(payload, bad)
        items = payload.get("spans") if isinstance(payload, dict) else payload
        if not isinstance(items, list):
            raise ApplicationError('Send {"spans": [...]} or a list of spans.', fields={"spans": ["Expected a list."]})
        if not items:
            raise ApplicationError("The batch is empty.", fields={"spans": ["Send at least one span."]})
        _check_count(items)
        project = request_project(request, slug=_session_project_slug(request, payload), action="trace.ingest")
        result = span_batch_ingest(project=project, items=items)
        answer = {"accepted": result.accepted, "rejected": result.rejected}
        if result.accepted == 0:
            answer = {"error": "No span was accepted.", "fields": {"spans": ["Every item was rejected."]}, **answer}
            return Response(answer, status=400)
        return Response(answer, status=200)


def _summary(rejected: list[dict]) -> str:
    parts = []
    for entry in rejected[:5]:
        fields = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in entry["fields"].items())
        parts.append(f"span {entry['index']}: {fields}")
    more = f" (and {len(rejected) - 5} more)" if len(rejected) > 5 else ""
    return "; ".join(parts) + more


class OtlpTracesView(APIView):
    """OTLP/HTTP trace export: protobuf or JSON, optionally gzip; answers ExportTraceServiceResponse."""

    required_scope = "ingest"
    parser_classes = [RawBodyParser]

    @extend_schema(
        operation_id="otlp_traces_export",
        request={"application/x-protobuf": OpenApiTypes.BINARY, "application/json": OpenApiTypes.OBJECT},
        responses={
            (200, "application/x-protobuf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="ExportTraceServiceResponse"
            ),
            (200, "application/json"): OpenApiResponse(OTLP_JSON_RESPONSE, description="ExportTraceServiceResponse"),
        },
    )
    def post(self, request):
        content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
        if content_type in ("application/x-protobuf", "application/protobuf"):
            as_json = False
        elif content_type == "application/json":
            as_json = True
        else:
            raise ApplicationError(
                "Send application/x-protobuf or application/json.",
                fields={"Content-Type": [f"Unsupported: {content_type or 'none'}."]},
                status=415,
            )
        body = ingest_body(request)
        items = otlp.span_items_from_json(body) if as_json else otlp.span_items_from_protobuf(body)
        _check_count(items)
        project = request_project(request, slug=request.query_params.get("project") or "", action="trace.ingest")
        rejected: list[dict] = []
        if items:
            rejected = span_batch_ingest(project=project, items=items).rejected
        payload = otlp.export_response(rejected=len(rejected), message=_summary(rejected), as_json=as_json)
        return HttpResponse(payload, content_type="application/json" if as_json else "application/x-protobuf")
