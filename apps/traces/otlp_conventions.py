"""OpenTelemetry semantic conventions → an ingest item: GenAI (`gen_ai.*`) and OpenInference
attributes mapped to `input`, `output`, `type` and `metrics`; every other attribute kept in `metadata`
under its own key. `span_item_from_otel` is on the OTLP ingest hot path."""

from __future__ import annotations

import re
from typing import Any

import orjson

STATUS_CODE_ERROR = 2
SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}

OPENINFERENCE_TYPES = {
    "LLM": "llm",
    "TOOL": "tool",
    "RETRIEVER": "retrieval",
    "CHAIN": "task",
    "AGENT": "task",
    "EMBEDDING": "function",
    "RERANKER": "function",
    "EVALUATOR": "eval",
    "GUARDRAIL": "eval",
}
GEN_AI_OPERATION_TYPES = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "embeddings": "function",
    "execute_tool": "tool",
    "invoke_agent": "task",
    "create_agent": "task",
}
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKEN_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
TOTAL_TOKEN_KEYS = ("gen_ai.usage.total_tokens", "llm.token_count.total")
COST_KEYS = ("gen_ai.usage.cost", "llm.cost.total")
# Indexed attributes folded into message lists: gen_ai.prompt.0.role, llm.input_messages.1.message.content …
_INDEXED = re.compile(r"^(gen_ai\.prompt|gen_ai\.completion|llm\.input_messages|llm\.output_messages)\.(\d+)\.(.+)$")
_INDEXED_PREFIXES = ("gen_ai.prompt.", "gen_ai.completion.", "llm.input_messages.", "llm.output_messages.")
_BULKY_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "input.value", "output.value")
_LLM_PREFIXES = ("gen_ai.", "llm.")


def _maybe_json(value: Any) -> Any:
    """gen_ai.*.messages and JSON-typed input.value arrive as JSON text; keep the text if it is not."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _first(attributes: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _indexed_messages(attributes: dict) -> dict[str, list[dict]]:
    """{"gen_ai.prompt": [{"role": …, "content": …}, …], …} from flattened indexed attributes."""
    grouped: dict[str, dict[int, dict]] = {}
    for key, value in attributes.items():
        match = _INDEXED.match(key)
        if match is None:
            continue
        prefix, index, rest = match.groups()
        rest = rest.removeprefix("message.")
        grouped.setdefault(prefix, {}).setdefault(int(index), {})[rest] = value
    return {prefix: [by_index[i] for i in sorted(by_index)] for prefix, by_index in grouped.items()}


def _io_value(attributes: dict, key: str) -> Any:
    value = attributes.get(f"{key}.value")
    mime = attributes.get(f"{key}.mime_type")
    if isinstance(value, str) and (mime == "application/json" or mime is None):
        return _maybe_json(value)
    return value


def _span_type(attributes: dict, has_llm: bool) -> str:
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind.upper() in OPENINFERENCE_TYPES:
        return OPENINFERENCE_TYPES[kind.upper()]
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in GEN_AI_OPERATION_TYPES:
        return GEN_AI_OPERATION_TYPES[operation]
    if has_llm and any(key.startswith("gen_ai.") for key in attributes):
        return "llm" if _first(attributes, MODEL_KEYS) is not None else "other"
    return "other"


def otel_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None


def otel_id_hex(value: Any) -> str:
    return value.hex() if isinstance(value, bytes) else (value if isinstance(value, str) else "")


def span_item_from_otel(
    *,
    trace_id: str,
    span_id: str,
    parent_span_id: str,
    name: Any,
    kind: Any,
    start_ns: Any,
    end_ns: Any,
    attributes: dict[str, Any],
    events: list[dict],
    status_code: Any,
    status_message: Any,
    resource: dict[str, Any],
    scope: dict[str, Any],
) -> dict[str, Any]:
    """One OpenTelemetry span as an ingest item."""
    # One pass over the keys decides which (costlier) mappings apply at all.
    has_indexed = has_llm = False
    for key in attributes:
        if key.startswith(_LLM_PREFIXES):
            has_llm = True
            if key.startswith(_INDEXED_PREFIXES):
                has_indexed = True
                break
    indexed = _indexed_messages(attributes) if has_indexed else {}
    inputs = _maybe_json(attributes.get("gen_ai.input.messages"))
    if inputs is None:
        inputs = indexed.get("gen_ai.prompt")
    if inputs is None:
        inputs = _io_value(attributes, "input")
    if inputs is None:
        inputs = indexed.get("llm.input_messages")
    outputs = _maybe_json(attributes.get("gen_ai.output.messages"))
    if outputs is None:
        outputs = indexed.get("gen_ai.completion")
    if outputs is None:
        outputs = _io_value(attributes, "output")
    if outputs is None:
        outputs = indexed.get("llm.output_messages")

    metrics: dict[str, Any] = {}
    if has_llm:
        model = _first(attributes, MODEL_KEYS)
        if isinstance(model, str):
            metrics["model"] = model
        for target, keys in (
            ("input_tokens", INPUT_TOKEN_KEYS),
            ("output_tokens", OUTPUT_TOKEN_KEYS),
            ("total_tokens", TOTAL_TOKEN_KEYS),
        ):
            count = otel_int(_first(attributes, keys))
            if count is not None and count >= 0:
                metrics[target] = count
        cost = _first(attributes, COST_KEYS)
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            metrics["cost"] = cost

    if indexed:
        metadata = {k: v for k, v in attributes.items() if k not in _BULKY_KEYS and not k.startswith(_INDEXED_PREFIXES)}
    else:
        metadata = dict(attributes)
        for key in _BULKY_KEYS:
            metadata.pop(key, None)
    if "session.id" not in metadata and isinstance(attributes.get("gen_ai.conversation.id"), str):
        metadata["session.id"] = attributes["gen_ai.conversation.id"]
    metadata["otel.span.kind"] = SPAN_KINDS.get(kind, str(kind)) if isinstance(kind, int) else kind
    if scope:
        metadata["otel.scope"] = scope
    if resource:
        metadata["resource"] = resource
    if events:
        metadata["events"] = events

    error: Any = None
    if otel_int(status_code) == STATUS_CODE_ERROR or status_code == "STATUS_CODE_ERROR":
        message = status_message if isinstance(status_message, str) and status_message else ""
        if not message:
            for event in events:
                if event.get("name") == "exception":
                    attrs = event.get("attributes") or {}
                    parts = [attrs.get("exception.type"), attrs.get("exception.message")]
                    message = ": ".join(str(p) for p in parts if p)
                    break
        error = message or True

    item: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": name if isinstance(name, str) else "",
        "type": _span_type(attributes, has_llm),
        "start_time": (start_ns if type(start_ns) is int else otel_int(start_ns)) or None,
        "end_time": (end_ns if type(end_ns) is int else otel_int(end_ns)) or None,
        "input": inputs,
        "output": outputs,
        "metadata": metadata,
        "metrics": metrics,
        "error": error,
    }
    tags = attributes.get("tag.tags")
    if isinstance(tags, list) and tags and all(isinstance(t, str) and 0 < len(t) <= 200 for t in tags):
        item["tags"] = tags
    return item
