"""Scoring experiment results and spans with a scorer version, and the scoring job around it.

Scores are written by the reviews app (`automated_scores_write`: source `automated`, config = the version's,
`scorer_version` set, one per span and version, replaced on re-scoring). An item the scorer cannot score is a
ScorerFailure (per result, or per span for online rules); re-scoring replaces the version's old failures there.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from django.db import transaction
from django.utils import timezone

from apps.core.exceptions import ApplicationError
from apps.reviews.services.automated_scores import automated_scores_write
from apps.reviews.services.scores import CleanScore
from apps.traces.models import Span

from .models import (
    Experiment,
    ExperimentResult,
    ExperimentStatus,
    ScorerFailure,
    ScorerKind,
    ScorerVersion,
    ScoringJob,
)
from .scorers import ScorerError, scorer_function
from .selectors import json_as_text

logger = logging.getLogger(__name__)
CHUNK = 1000  # a judge's chunk: progress is saved after each (a judge waits on the network)
# A deterministic scorer's chunk: each chunk is one transaction (its commit checks the scores' and events'
# deferred foreign keys), so large chunks write more scores a second (bench/scorers.py).
DETERMINISTIC_CHUNK = 5000
FAILURE_CHARS = 2000
JUDGE_CONCURRENCY = 4


@dataclass
class ScoringOutcome:
    scored: int = 0
    failed: int = 0


def _score_items(
    version: ScorerVersion, items: list[tuple], outcome: ScoringOutcome, *, replace: bool = True, score=None
) -> None:
    """`items`: (result pk or None, span pk or None, project id, input, output, expected, run error).

    `replace`: drop the version's earlier failures on these results or spans (skipped when it has none).
    `score`: what scores in place of the version's own function (the demo's local judge rubric)."""
    score = score or scorer_function(version)

    def attempt(item: tuple):
        result_pk, span_pk, project_id, input, output, expected, run_error = item
        try:
            if span_pk is None:
                raise ScorerError("The result has no span to carry a score.")
            if run_error and output is None:
                raise ScorerError(f"The run failed for this record: {run_error[:200]}")
            return score(input, output, expected)
        except ScorerError as exc:
            return exc

    if version.scorer.kind == ScorerKind.LLM_JUDGE and len(items) > 1:
        # A judge waits on the network: a few calls at once (the threads touch no database).
        with ThreadPoolExecutor(max_workers=JUDGE_CONCURRENCY, thread_name_prefix="assay-judge") as pool:
            answers = list(pool.map(attempt, items))
    else:
        answers = [attempt(item) for item in items]
    writes, failures = [], []
    for (result_pk, span_pk, project_id, *_), answer in zip(items, answers, strict=True):
        if isinstance(answer, ScorerError):
            failures.append(
                ScorerFailure(
                    project_id=project_id, scorer_version=version, span_id=span_pk, result_id=result_pk,
                    error=str(answer)[:FAILURE_CHARS],
                )
            )  # fmt: skip
        else:
            writes.append((project_id, span_pk, answer))
    with transaction.atomic():
        if replace:
            stale = ScorerFailure.objects.filter(scorer_version=version)
            results = [item[0] for item in items if item[0] is not None]
            if results:
                stale.filter(result_id__in=results).delete()
            else:
                stale.filter(span_id__in=[item[1] for item in items]).delete()
        automated_scores_write(scorer_version_id=version.pk, items=writes)
        ScorerFailure.objects.bulk_create(failures)
    outcome.scored += len(writes)
    outcome.failed += len(failures)


def results_score(
    *,
    version: ScorerVersion,
    results: Iterable[ExperimentResult] | None = None,
    experiment: Experiment | None = None,
    progress: Callable[[ScoringOutcome], None] | None = None,
    score: Callable[[Any, Any, Any], CleanScore] | None = None,
) -> ScoringOutcome:
    """Score results (each on its span: input and expected as of the pinned version, the result's output):
    the given ones, or all of `experiment`'s, read in pages as plain rows. `score` stands in for the
    version's function (`apps.experiments.demo`: the embedded demo has no LLM endpoint for its judge)."""
    outcome = ScoringOutcome()
    project_id = version.scorer.project_id
    replace = ScorerFailure.objects.filter(scorer_version=version).exists()
    judge = version.scorer.kind != ScorerKind.DETERMINISTIC
    size = CHUNK if judge else DETERMINISTIC_CHUNK
    if results is not None:
        rows = ((r.pk, r.span_id, r.input, r.output, r.expected, r.error) for r in results)
    else:
        rows = _result_rows(experiment, with_input=judge, page_size=size)
    chunk: list[tuple] = []
    for pk, span_pk, input, output, expected, error in rows:
        chunk.append((pk, span_pk, project_id, input, output, expected, error))
        if len(chunk) >= size:
            _score_items(version, chunk, outcome, replace=replace, score=score)
            chunk = []
            if progress:
                progress(outcome)
    if chunk:
        _score_items(version, chunk, outcome, replace=replace, score=score)
    if progress:
        progress(outcome)
    return outcome


def spans_score(*, version: ScorerVersion, spans: Iterable[Span]) -> ScoringOutcome:
    """Score spans (online rules): the span's input, output and current expected (its correction)."""
    outcome = ScoringOutcome()
    items = [(None, s.pk, s.project_id, s.input, s.output, s.expected, "") for s in spans]
    for start in range(0, len(items), CHUNK):
        _score_items(version, items[start : start + CHUNK], outcome)
    return outcome


def _result_rows(experiment: Experiment, *, with_input: bool, page_size: int = CHUNK):
    """(pk, span pk, input, output, expected, error) of every result by pk, in keyset pages of plain tuples
    (deterministic scorers never read the input: None then, and it is not fetched). JSON is read as its
    text and parsed by orjson (Django's JSONField parses with the json module, several times slower)."""
    columns = [
        "pk",
        "span_id",
        json_as_text("input") if with_input else "pk",
        json_as_text("output"),
        json_as_text("expected"),
    ]
    loads = orjson.loads
    last = 0
    while True:
        page = list(
            ExperimentResult.objects.filter(experiment=experiment, pk__gt=last)
            .order_by("pk")
            .values_list(*columns, "error")[:page_size]
        )
        for pk, span_pk, input, output, expected, error in page:
            yield (
                pk,
                span_pk,
                None if not with_input or input is None else loads(input),
                None if output is None else loads(output),
                None if expected is None else loads(expected),
                error,
            )
        if len(page) < page_size:
            return
        last = page[-1][0]


# ----------------------------------------------------------------------------------------- the job


def scoring_job_create(*, experiment: Experiment, version: ScorerVersion, requested_by=None) -> ScoringJob:
    """Queue `version` scoring every result of `experiment` (sent to Celery once this transaction commits)."""
    if version.scorer.project_id != experiment.project_id:
        raise ApplicationError("Scorer not found.", fields={"scorer": ["Unknown scorer."]}, status=400)
    with transaction.atomic():
        job = ScoringJob.objects.create(
            experiment=experiment,
            scorer_version=version,
            total=ExperimentResult.objects.filter(experiment=experiment).count(),
            requested_by=requested_by if getattr(requested_by, "is_authenticated", False) else None,
        )
        transaction.on_commit(lambda: scoring_job_dispatch(job_id=job.pk))
    return job


def scoring_job_dispatch(*, job_id: int) -> bool:
    """Send to the queue; a broker that is down fails the job with that reason (it never runs in the request)."""
    from .tasks import job_dispatch, scoring_job_run_task

    return job_dispatch(scoring_job_run_task, ScoringJob, job_id, what="scoring")


def scoring_job_run(*, job_id: int) -> ScoringJob | None:
    """Run a queued job (once: a second delivery of a finished or running job does nothing)."""
    claimed = ScoringJob.objects.filter(pk=job_id, status=ExperimentStatus.CREATED).update(
        status=ExperimentStatus.RUNNING, updated_at=timezone.now()
    )
    if not claimed:
        return ScoringJob.objects.filter(pk=job_id).first()
    job = ScoringJob.objects.select_related("experiment", "scorer_version__scorer", "scorer_version__config").get(
        pk=job_id
    )

    def progress(outcome: ScoringOutcome) -> None:
        ScoringJob.objects.filter(pk=job_id).update(
            done=outcome.scored + outcome.failed, failed=outcome.failed, updated_at=timezone.now()
        )

    try:
        results_score(version=job.scorer_version, experiment=job.experiment, progress=progress)
    except Exception as exc:  # recorded on the job row; the worker log has the traceback
        logger.exception("scoring job %s failed", job_id)
        ScoringJob.objects.filter(pk=job_id).update(
            status=ExperimentStatus.FAILED,
            error=f"Unexpected error: {exc.__class__.__name__}",
            finished_at=timezone.now(),
        )
    else:
        ScoringJob.objects.filter(pk=job_id).update(status=ExperimentStatus.COMPLETED, finished_at=timezone.now())
    job.refresh_from_db()
    return job
