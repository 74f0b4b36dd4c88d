"""Routed workers: each kind of work has its queue, chosen by the task name, and the workers that run
everything (the embedded run_all worker, the test worker) consume every queue."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.celery import app

KINDS = {
    "exports.run_job": "exports",
    "exports.reap_stale_jobs": "exports",
    "datasets.run_job": "datasets",
    "retention.run_policies": "maintenance",
    "retention.run": "maintenance",
    # Tasks other apps add later are routed by their name alone, whichever naming they use.
    "experiments.run_job": "experiments",
    "scorers.score_span": "experiments",
    "apps.experiments.tasks.experiment_run": "experiments",
    "apps.exports.tasks.anything": "exports",
    "views.describe": "default",
}


@pytest.mark.parametrize(("task", "queue"), KINDS.items())
def test_a_task_of_each_kind_is_routed_to_its_queue(task, queue):
    route = app.amqp.router.route({}, task)
    assert route["queue"].name == queue


def test_every_registered_task_lands_in_a_declared_queue():
    app.loader.import_default_modules()
    names = [name for name in app.tasks if not name.startswith("celery.")]
    assert {"exports.run_job", "datasets.run_job", "retention.run", "retention.run_policies"} <= set(names)
    for name in names:
        assert app.amqp.router.route({}, name)["queue"].name in settings.ASSAY_QUEUES, name


def test_a_message_is_published_to_its_queue(memory_broker):
    from apps.retention.tasks import retention_run_policies_task

    with app.connection_for_write() as conn:
        retention_run_policies_task.apply_async(connection=conn)
        message = conn.SimpleQueue("maintenance").get(timeout=5)
        assert message.headers["task"] == "retention.run_policies"
        message.ack()


def test_the_embedded_worker_consumes_every_queue():
    from apps.core.management.commands.run_all import job_commands

    worker = job_commands("python")["worker"]
    assert set(worker[worker.index("-Q") + 1].split(",")) == set(settings.ASSAY_QUEUES)
    assert set(settings.ASSAY_QUEUES) == {"default", "exports", "datasets", "experiments", "maintenance"}


def test_the_test_worker_consumes_every_queue(celery_worker):
    consumed = {queue.name for queue in celery_worker.consumer.task_consumer.queues}
    assert consumed == set(settings.ASSAY_QUEUES)
