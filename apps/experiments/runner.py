"""Assay running an experiment's pinned dataset version through a model itself (a RunJob).

The prompt is a list of chat messages whose content may hold `{{input}}` or `{{input.a.b}}` placeholders,
checked at creation against every pinned record (a path some record lacks is a 400 naming `messages`).
The job calls the one LLM client (`apps.core.llm`: retries with backoff on 429/5xx) from a few threads
(`concurrency`), while this thread alone writes: each chunk's calls go in as spans through the traces
ingest service and their results through the bulk results service (`experiment_results_upsert`, the
one write path of results: linked to those spans, upsert by record id), then progress is saved and
`cancel_requested` is read before the next chunk. An endpoint that fails for a record is that result's
`error`, counted in `failed`; the job goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.core.llm import PASS_THROUGH, llm_completion
from apps.datasets.selectors import dataset_records_at_version
from apps.traces.services import span_batch_ingest

from .models import Experiment, ExperimentStatus, RunJob
from .services import experiment_results_upsert

logger = logging.getLogger(__name__)
PLACEHOLDER = re.compile(r"\{\{\s*input((?:\.[A-Za-z0-9_\-]+)*)\s*\}\}")
ROLES = ("system", "user", "assistant", "developer")
MESSAGES_MAX = 50
CONTENT_MAX = 100_000
CONCURRENCY_MAX = 16
RETRIES_MAX = 5
FINISHED = (ExperimentStatus.COMPLETED, ExperimentStatus.FAILED, ExperimentStatus.CANCELLED)
_MISSING = object()


def _lookup(value: Any, path: str) -> Any:
    for step in path.split(".")[1:]:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return _MISSING
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)


def messages_render(messages: list[dict], record_input: Any) -> list[dict]:
    """The messages with each placeholder replaced by the record's value (text as is, anything else as JSON)."""

    def fill(match: re.Match) -> str:
        value = _lookup(record_input, match.group(1) or "")
        return "" if value is _MISSING else _text(value)

    return [{"role": m["role"], "content": PLACEHOLDER.sub(fill, m["content"])} for m in messages]


def _messages_clean(messages: Any) -> list[dict]:
    if not isinstance(messages, list) or not 0 < len(messages) <= MESSAGES_MAX:
        raise ApplicationError("Invalid messages.", fields={"messages": [f"A list of 1 to {MESSAGES_MAX} messages."]})
    for i, message in enumerate(messages):
        if (
            not isinstance(message, dict)
            or set(message) != {"role", "content"}
            or message["role"] not in ROLES
            or not isinstance(message["content"], str)
            or len(message["content"]) > CONTENT_MAX
        ):
            raise ApplicationError(
                "Invalid messages.",
                fields={f"messages[{i}]": [f"An object {{role: {'|'.join(ROLES)}, content: text}}."]},
            )
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _placeholders_check(messages: list[dict], experiment: Experiment) -> None:
    paths = sorted({m.group(1) or "" for msg in messages for m in PLACEHOLDER.finditer(msg["content"])})
    if not paths:
        return
    records = dataset_records_at_version(dataset=experiment.dataset, version=experiment.version_number)
    for record_id, record_input in records.values_list("record_id", "input").iterator():
        for path in paths:
            if _lookup(record_input, path) is _MISSING:
                raise ApplicationError(
                    "The prompt names a field a record lacks.",
                    fields={"messages": [f"{{{{input{path}}}}} is missing from record {record_id!r}."]},
                )


def run_params_clean(*, experiment: Experiment, params: Any) -> dict:
    """The run's params {messages, model, parameters, concurrency, retries}, or a 400 naming the field."""
    if not isinstance(params, dict):
        raise ApplicationError("Invalid run.", fields={"non_field_errors": ["Expected an object."]})
    messages = _messages_clean(params.get("messages"))
    model = params.get("model") or ""
    if not isinstance(model, str) or len(model) > 200:
        raise ApplicationError("Invalid model.", fields={"model": ["A model name (empty: LLM_MODEL)."]})
    parameters = params.get("parameters") or {}
    if not isinstance(parameters, dict) or set(parameters) - PASS_THROUGH - {"temperature"}:
        allowed = ", ".join(sorted(PASS_THROUGH | {"temperature"}))
        raise ApplicationError("Invalid parameters.", fields={"parameters": [f"An object with keys from {allowed}."]})
    numbers = {"concurrency": (params.get("concurrency", 4), 1, CONCURRENCY_MAX)}
    numbers["retries"] = (params.get("retries", 2), 0, RETRIES_MAX)
    for name, (value, low, high) in numbers.items():
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ApplicationError(f"Invalid {name}.", fields={name: [f"A whole number from {low} to {high}."]})
    _placeholders_check(messages, experiment)
    return {
        "messages": messages,
        "model": model,
        "parameters": parameters,
        "concurrency": numbers["concurrency"][0],
        "retries": numbers["retries"][0],
    }


def run_job_create(*, experiment: Experiment, params: Any, requested_by=None) -> RunJob:
    """Validate, then queue the run (sent to Celery once this transaction commits)."""
    cleaned = run_params_clean(experiment=experiment, params=params)
    total = dataset_records_at_version(dataset=experiment.dataset, version=experiment.version_number).count()
    with transaction.atomic():
        job = RunJob.objects.create(
            experiment=experiment,
            params=cleaned,
            total=total,
            requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        )
        transaction.on_commit(lambda: run_job_dispatch(job_id=job.pk))
    return job


def run_job_dispatch(*, job_id: int) -> bool:
    """Send to the queue; a broker that is down fails the job with that reason (never run in the request)."""
    from .tasks import job_dispatch, run_job_run_task

    return job_dispatch(run_job_run_task, RunJob, job_id, what="run")


def run_job_cancel(*, job: RunJob) -> RunJob:
    """Ask a run to stop: a queued run ends now, a running one after the chunk in flight."""
    RunJob.objects.filter(pk=job.pk).exclude(status__in=FINISHED).update(cancel_requested=True)
    RunJob.objects.filter(pk=job.pk, status=ExperimentStatus.CREATED).update(
        status=ExperimentStatus.CANCELLED, finished_at=timezone.now()
    )
    job.refresh_from_db()
    return job


def _call(params: dict, record_id: str, record_input: Any, expected: Any) -> dict:
    """One record through the model (in a worker thread: no database access here)."""
    messages = messages_render(params["messages"], record_input)
    parameters = dict(params["parameters"])
    temperature = parameters.pop("temperature", 0.0)
    started = time.time()
    row = {"record_id": record_id, "input": record_input, "expected": expected, "messages": messages}
    try:
        completion = llm_completion(
            messages,
            model=params["model"] or None,
            temperature=temperature,
            parameters=parameters,
            retries=params["retries"],
        )
        row.update(output=completion.content, usage=completion.usage, model=completion.model, error="")
    except ApplicationError as exc:
        row.update(output=None, usage={}, model=params["model"], error=exc.message)
    row.update(started=started, ended=time.time())
    return row


def _span_item(experiment: Experiment, row: dict) -> dict:
    key = hashlib.sha256(f"{experiment.pk}\x00{row['record_id']}".encode()).hexdigest()[:32]
    usage = row["usage"]
    metrics = {k: usage[k] for k in ("total_tokens",) if k in usage}
    metrics.update(input_tokens=usage.get("prompt_tokens", 0), output_tokens=usage.get("completion_tokens", 0))
    return {
        "trace_id": f"assay-exp-{key}",
        "span_id": f"assay-exp-{key}",
        "name": experiment.name[:200],
        "type": "llm",
        "start_time": row["started"],
        "end_time": row["ended"],
        "input": row["messages"],
        "output": row["output"],
        "error": row["error"] or None,
        "metrics": {**metrics, "model": row["model"] or None} if row["model"] else metrics,
        "metadata": {"assay.experiment_id": experiment.pk, "assay.dataset_record_id": row["record_id"]},
    }


def _result_item(row: dict, span: dict) -> dict:
    """The result of one call, as the bulk results service takes it, linked to the call's own span."""
    usage = row["usage"]
    return {
        "record_id": row["record_id"],
        "output": row["output"],
        "error": row["error"],
        "latency_ms": round((row["ended"] - row["started"]) * 1000, 3),
        "input_tokens": usage.get("prompt_tokens"),
        "output_tokens": usage.get("completion_tokens"),
        "total_tokens": usage.get("total_tokens"),
        "metadata": {"model": row["model"]},
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
    }


def _results_write(experiment: Experiment, rows: list[dict]) -> None:
    """The calls' spans (type llm: the rendered messages, the model) through the ingest service, then the
    results through the one result write service, which links each to its span, marks the traces as
    experiment traces and upserts by record id."""
    spans = [_span_item(experiment, row) for row in rows]
    with transaction.atomic():
        span_batch_ingest(project=experiment.project, items=spans)
        written = experiment_results_upsert(
            experiment=experiment, items=[_result_item(row, span) for row, span in zip(rows, spans, strict=True)]
        )
    if written.rejected:  # the service refused a call's result: never silently dropped
        raise ApplicationError("Results refused.", fields={"results": [str(r) for r in written.rejected[:5]]})


def _claim(job_id: int) -> RunJob | None:
    claimed = RunJob.objects.filter(pk=job_id, status=ExperimentStatus.CREATED, cancel_requested=False).update(
        status=ExperimentStatus.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return None
    job = RunJob.objects.select_related("experiment__dataset", "experiment__project").get(pk=job_id)
    Experiment.objects.filter(pk=job.experiment_id).update(status=ExperimentStatus.RUNNING)
    return job


def _finish(job: RunJob, status: str, error: str = "") -> None:
    RunJob.objects.filter(pk=job.pk).update(status=status, error=error, finished_at=timezone.now())
    experiment_status = ExperimentStatus.COMPLETED if status == ExperimentStatus.COMPLETED else status
    Experiment.objects.filter(pk=job.experiment_id).update(status=experiment_status)


def run_job_execute(*, job_id: int) -> RunJob | None:
    """Run a queued job to the end, or until cancelled. A second delivery finds it claimed and does nothing."""
    job = _claim(job_id)
    if job is None:
        return RunJob.objects.filter(pk=job_id).first()
    experiment, params = job.experiment, job.params
    records = dataset_records_at_version(dataset=experiment.dataset, version=experiment.version_number)
    records = records.values_list("record_id", "input", "expected")
    chunk_size = params["concurrency"] * 2
    done = failed = 0
    try:
        with ThreadPoolExecutor(max_workers=params["concurrency"], thread_name_prefix="assay-run") as pool:
            chunk: list[tuple] = []
            for record in [*records.iterator(), None]:
                if record is not None:
                    chunk.append(record)
                if chunk and (record is None or len(chunk) >= chunk_size):
                    rows = list(pool.map(lambda r: _call(params, *r), chunk))
                    _results_write(experiment, rows)
                    done += len(rows)
                    failed += sum(1 for row in rows if row["error"])
                    chunk = []
                    RunJob.objects.filter(pk=job.pk).update(done=done, failed=failed, updated_at=timezone.now())
                    if RunJob.objects.filter(pk=job.pk, cancel_requested=True).exists():
                        _finish(job, ExperimentStatus.CANCELLED)
                        break
            else:
                _finish(job, ExperimentStatus.COMPLETED)
    except Exception as exc:  # recorded on the job row; the worker log has the traceback
        logger.exception("run job %s failed", job_id)
        _finish(job, ExperimentStatus.FAILED, f"Unexpected error: {exc.__class__.__name__}")
    job.refresh_from_db()
    return job
