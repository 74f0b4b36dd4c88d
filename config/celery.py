import os

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("assay")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
@worker_process_init.connect
def _worker_memory(**kwargs):
    """Each worker process (the pool's children, or the worker itself with the solo or threads pool)."""
    from apps.core.memory import worker_memory_setup

    worker_memory_setup()
