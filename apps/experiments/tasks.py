"""Celery tasks: thin, they load ids and call services."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


def job_dispatch(task, job_model, job_id: int, *, what: str) -> bool:
    """Send a run or scoring job to the queue; a broker that is down fails the job with that reason (it
    never runs in the request instead)."""
    from .models import ExperimentStatus

    try:
        task.apply_async(args=[job_id], retry=True, retry_policy={"max_retries": 2})
    except Exception as exc:  # kombu's OperationalError and friends
        logger.warning("Could not send %s job %s to the queue: %s", what, job_id, exc)
        job_model.objects.filter(pk=job_id).update(
            status=ExperimentStatus.FAILED,
            error=f"The job queue is unreachable ({exc.__class__.__name__}); start the {what} again.",
        )
        return False
    return True


@shared_task(name="experiments.score", acks_late=True, ignore_result=True)
def scoring_job_run_task(job_id: int) -> None:
    from .scoring import scoring_job_run

    scoring_job_run(job_id=job_id)


@shared_task(name="experiments.run", acks_late=True, ignore_result=True)
def run_job_run_task(job_id: int) -> None:
    from .runner import run_job_execute

    run_job_execute(job_id=job_id)


@shared_task(name="experiments.score_online", ignore_result=True)
def online_score_task(rule_id: int, version_id: int, span_pks: list[int]) -> None:
    from .online import online_rule_score

    online_rule_score(rule_id=rule_id, version_id=version_id, span_pks=span_pks)
