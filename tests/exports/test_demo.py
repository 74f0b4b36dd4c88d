import pytest
from django_celery_beat.models import PeriodicTask

from apps.exports.demo import load_demo_exports
from apps.exports.models import ExportJob, ExportSchedule
from tests import factories

pytestmark = pytest.mark.django_db


def test_demo_has_a_finished_export_and_a_daily_schedule(project):
    factories.SpanFactory.create_batch(3, trace=factories.TraceFactory(project=project))
    load_demo_exports(project=project, traces=3, stdout=None)
    job = ExportJob.objects.get(project=project)
    assert job.status == "succeeded" and job.row_count == 3
    schedule = ExportSchedule.objects.get(project=project)
    task = PeriodicTask.objects.get(pk=schedule.periodic_task_id)
    assert task.crontab.hour == "2" and task.crontab.minute == "0" and task.enabled
