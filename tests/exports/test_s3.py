"""Exports to an S3-compatible bucket through django-storages, against moto's server on loopback."""

from __future__ import annotations

import json

import pytest

from apps.exports import storage
from tests.exports.conftest import run

pytestmark = pytest.mark.django_db


def test_export_to_s3(project, annotated_spans, s3_bucket, key_client):
    job = run(project, format="jsonl", gzip=True)
    assert job.status == "succeeded", job.error
    listed = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket="assay-test")["Contents"]]
    assert listed == [job.storage_key]
    import gzip

    body = s3_bucket.get_object(Bucket="assay-test", Key=job.storage_key)["Body"].read()
    assert len(body) == job.byte_size
    rows = [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]
    assert sorted(r["span_id"] for r in rows) == ["s-1", "s-2", "s-3"]
    # A re-run of the same job overwrites its own object, nothing else appears.
    from apps.exports.models import ExportJob
    from apps.exports.services import export_job_run

    ExportJob.objects.filter(pk=job.pk).update(status="queued")
    export_job_run(job_id=job.pk)
    listed = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket="assay-test")["Contents"]]
    assert listed == [job.storage_key]
    with storage.open_for_download(job.storage_key) as fh:
        assert fh.read() == body


def test_failed_export_leaves_nothing_in_the_bucket(project, annotated_spans, s3_bucket, monkeypatch):
    from apps.exports.formats import parquet

    def explode(self, batch):
        raise OSError("broken pipe")

    monkeypatch.setattr(parquet.ParquetWriter, "write_batch", explode)
    job = run(project, format="parquet")
    assert job.status == "failed"
    assert s3_bucket.list_objects_v2(Bucket="assay-test").get("KeyCount") == 0
