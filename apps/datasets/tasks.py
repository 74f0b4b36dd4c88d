"""Celery tasks: thin wrappers that load a job by id and call the service."""

from celery import shared_task

from .services.jobs import dataset_job_execute


@shared_task(name="datasets.run_job", acks_late=True)
def dataset_job_run(job_id: int) -> str | None:
    job = dataset_job_execute(job_id=job_id)
    return job.status if job is not None else None
