"""The job machinery of the embedded setup: kombu's filesystem broker when REDIS_URL is unset (its
folders made on first use, not when settings are imported), and beat's fixed schedule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent

FILESYSTEM_ROUND_TRIP = r"""
import os, sys
from pathlib import Path

made = []
real_mkdir = os.mkdir
def recording_mkdir(path, *args, **kwargs):
    made.append(str(path))
    return real_mkdir(path, *args, **kwargs)
os.mkdir = recording_mkdir

import django
django.setup()
from django.conf import settings
print("import-made", made)
os.mkdir = real_mkdir

from config.celery import app
root = Path(sys.argv[1])
options = {name: str(root / folder) for name, folder in [
    ("data_folder_in", "queue"), ("data_folder_out", "queue"), ("processed_folder", "processed"),
    ("control_folder", "control")]}
app.conf.broker_transport_options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, **options}
print("url", app.conf.broker_url)
app.send_task("exports.reap_stale_jobs")
print("folders", sorted(p.name for p in root.iterdir()))
print("messages", len(os.listdir(root / "queue")))
with app.connection_for_read() as conn:
    message = conn.SimpleQueue("exports").get(timeout=5)  # routed by name (CELERY_TASK_ROUTES)
    print("task", message.headers["task"])
    message.ack()
print("left", len(os.listdir(root / "queue")))
"""


def test_without_redis_jobs_go_through_folders_made_on_first_use(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL"}}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REDIS_URL": "",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}",
        }
    )
    root = tmp_path / "broker"
    result = subprocess.run(
        [sys.executable, "-c", FILESYSTEM_ROUND_TRIP, str(root)],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["import-made"] == "[]"  # importing the settings and setting Django up made no folder
    assert lines["url"] == "filesystem://"
    assert lines["folders"] == "['control', 'processed', 'queue']"
    assert lines["messages"] == "1"
    assert lines["task"] == "exports.reap_stale_jobs"
    assert lines["left"] == "0"


@pytest.mark.django_db(transaction=True)  # the scheduler closes the database connection it used
def test_beat_installs_the_fixed_schedule_for_a_task_the_worker_knows():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.celery import app

    app.loader.import_default_modules()
    DatabaseScheduler(app=app)  # what `celery beat` does when it starts
    task = PeriodicTask.objects.get(name="exports.reap_stale_jobs")
    assert task.task == "exports.reap_stale_jobs" and task.enabled
    assert (task.interval.every, task.interval.period) == (60, "seconds")
    assert "exports.reap_stale_jobs" in app.tasks
