"""Long span additions as Celery jobs, and the one decision between adding now and queueing a job."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError

from ..models import (
    Dataset,
    DatasetJob,
    JobStatus,
    RecordOrigin,
)
from .spans import AddSpansResult, SpanMapping, dataset_add_from_feedback, dataset_add_spans, span_mapping_clean
from .versions import _author

logger = logging.getLogger(__name__)


SPAN_ASYNC_THRESHOLD = 1000


def dataset_spans_add_or_start(
    *,
    dataset: Dataset,
    kind: str,
    span_pks: list[int],
    mapping: SpanMapping | dict,
    author=None,
    message: str = "",
) -> AddSpansResult | DatasetJob:
    """Add the spans now (at most SPAN_ASYNC_THRESHOLD of them) or queue a job for more: the one place
    this is decided, for the admin and the API. `kind`: a DatasetJob.Kind (from feedback carries the
    reviewers' annotations unless the mapping says otherwise)."""
    if kind == DatasetJob.Kind.FROM_FEEDBACK and not isinstance(mapping, SpanMapping):
        mapping = {"carry_annotations": True, **(mapping or {})}
    mapping = span_mapping_clean(mapping)
    if len(span_pks) > SPAN_ASYNC_THRESHOLD:
        return dataset_job_start(
            dataset=dataset, kind=kind, span_pks=span_pks, mapping=mapping, author=author, message=message
        )
    if kind == DatasetJob.Kind.FROM_FEEDBACK:
        from apps.traces.models import Span

        return dataset_add_from_feedback(
            dataset=dataset,
            spans_queryset=Span.objects.filter(pk__in=span_pks),
            mapping=mapping,
            author=author,
            message=message,
        )
    return dataset_add_spans(dataset=dataset, span_pks=span_pks, mapping=mapping, author=author, message=message)


def dataset_job_start(
    *,
    dataset: Dataset,
    kind: str,
    span_pks: list[int],
    mapping: SpanMapping | dict,
    author=None,
    message: str = "",
) -> DatasetJob:
    """Queue a long add-spans write as a Celery job (dispatched once this transaction commits)."""
    mapping = span_mapping_clean(mapping)
    if kind not in DatasetJob.Kind.values:
        raise ApplicationError("Unknown job kind.", fields={"kind": ["Unknown."]})
    job = DatasetJob.objects.create(
        project_id=dataset.project_id,
        dataset=dataset,
        kind=kind,
        total=len(span_pks),
        params={"span_pks": list(span_pks), "mapping": mapping.as_dict(), "message": message},
        requested_by=_author(author),
    )
    from ..tasks import dataset_job_run

    transaction.on_commit(lambda: dataset_job_run.delay(job.pk))
    return job


def dataset_job_execute(*, job_id: int) -> DatasetJob | None:
    """Run a queued job (a re-delivered job runs again: upserts of unchanged rows write nothing)."""
    job = DatasetJob.objects.select_related("dataset", "requested_by").filter(pk=job_id).first()
    if job is None or job.status not in (JobStatus.QUEUED, JobStatus.RUNNING) or job.dataset is None:
        return job
    DatasetJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, updated_at=timezone.now())

    def progress(done: int, total: int) -> None:
        DatasetJob.objects.filter(pk=job.pk).update(done=done, total=total, updated_at=timezone.now())

    params = job.params or {}
    mapping = dict(params.get("mapping") or {})
    origin = RecordOrigin.LOG
    if job.kind == DatasetJob.Kind.FROM_FEEDBACK:
        # The pks were chosen from the feedback selector when the job started.
        mapping["expected_source"] = "correction"
        origin = RecordOrigin.FEEDBACK
    try:
        result = dataset_add_spans(
            dataset=job.dataset,
            span_pks=params.get("span_pks") or [],
            mapping=mapping,
            author=job.requested_by,
            message=params.get("message") or "",
            origin=origin,
            progress=progress,
        )
    except ApplicationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in list(exc.fields.items())[:10])
        _job_finish(job, status=JobStatus.FAILED, error=f"{exc.message} {detail}".strip())
    except Exception as exc:  # recorded on the job row for the user; the worker log has the traceback
        logger.exception("dataset job %s failed", job.pk)
        _job_finish(job, status=JobStatus.FAILED, error=f"Unexpected error: {exc.__class__.__name__}")
    else:
        _job_finish(
            job,
            status=JobStatus.SUCCEEDED,
            version=result.version,
            result={"spans": result.spans, "skipped": len(result.skipped), "skipped_span_ids": result.skipped[:50]},
        )
    job.refresh_from_db()
    return job


def _job_finish(job: DatasetJob, *, status: str, error: str = "", version=None, result=None) -> None:
    params = dict(job.params or {})
    params.pop("span_pks", None)  # no need to keep a large selection once done
    if result is not None:
        params["result"] = result
    fields = {
        "status": status,
        "error": error[:5000],
        "finished_at": timezone.now(),
        "updated_at": timezone.now(),
        "params": params,
    }
    if status == JobStatus.SUCCEEDED:
        fields["done"] = job.total if job.total else 0
        DatasetJob.objects.filter(pk=job.pk).update(version=version, **fields)
    else:
        DatasetJob.objects.filter(pk=job.pk).update(**fields)
