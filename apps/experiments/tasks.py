"""Celery tasks: thin, they load ids and call services."""

from __future__ import annotations

from celery import shared_task


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
