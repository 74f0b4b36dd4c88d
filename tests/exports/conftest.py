"""Helpers for export tests: annotated spans, running a job in-process, reading its file back."""

from __future__ import annotations

import gzip
import io
import socket
import time

import boto3
import pytest

from apps.exports import storage
from apps.exports.services import export_job_create, export_job_run
from apps.reviews.services.comments import comment_add
from apps.reviews.services.corrections import correction_record
from apps.reviews.services.score_configs import score_config_create
from apps.reviews.services.scores import score_record
from apps.reviews.services.tags import tag_add
from tests import factories


@pytest.fixture(autouse=True)
def export_storage(settings, tmp_path):
    """A fresh local export folder per test (ids repeat across tests on a rolled-back database)."""
    if settings.STORAGES["exports"]["BACKEND"].endswith("FileSystemStorage"):
        settings.STORAGES = {
            **settings.STORAGES,
            "exports": {
                "BACKEND": "django.core.files.storage.FileSystemStorage",
                "OPTIONS": {"location": str(tmp_path / "exports")},
            },
        }
    settings.EXPORTS_TMP_DIR = str(tmp_path / "tmp")
    return tmp_path


@pytest.fixture
def annotated_spans(project):
    """Three spans of one trace: one scored, tagged, commented and corrected; one with a formula-like
    input; one without an expected answer."""
    user = factories.UserFactory(username="rita")
    trace = factories.TraceFactory(project=project, trace_id="trace-a", root_span_id="s-1")
    first = factories.SpanFactory(
        trace=trace,
        span_id="s-1",
        metadata={"customer": {"tier": "gold"}, "region": "eu"},
        metrics={"latency_ms": 120},
    )
    second = factories.SpanFactory(
        trace=trace,
        span_id="s-2",
        parent_span_id="s-1",
        input=[{"role": "system", "content": "Be terse."}, {"role": "user", "content": '=HYPERLINK("x")'}],
        output={"role": "assistant", "content": "-1"},
        metadata={"note": "@mention"},
    )
    third = factories.SpanFactory(trace=trace, span_id="s-3", parent_span_id="s-1", input="plain text?")
    config = score_config_create(project=project, name="helpful", kind="continuous", min_value=0, max_value=1)
    score_record(span=first, config=config, value=0.8, author=user, comment="good")
    tag_add(span=first, name="golden", user=user)
    comment_add(span=first, text="Checked against policy", author=user)
    correction_record(span=first, value="30 days from delivery.", author=user)
    correction_record(span=second, value={"role": "assistant", "content": "Refunds take 30 days."}, author=user)
    for span in (first, second, third):
        span.refresh_from_db()
    return [first, second, third]


def slow_down_chunks(seconds: float) -> None:
    """Make every export run sleep `seconds` after each chunk, so a test can act on a running export
    (cancel it, kill its worker, watch its progress). For a worker process of its own, see slow_worker.py."""
    from apps.exports import services

    heartbeat = services._heartbeat

    def slow(*args, **kwargs):
        heartbeat(*args, **kwargs)
        time.sleep(seconds)

    services._heartbeat = slow


@pytest.fixture
def slow_chunks(monkeypatch):
    """slow_chunks(seconds): export runs in this process sleep that long after each chunk."""
    from apps.exports import services

    monkeypatch.setattr(services, "_heartbeat", services._heartbeat)  # restored after the test
    return slow_down_chunks


def run(project, **kwargs):
    job = export_job_create(project=project, dispatch=False, **{"source": "spans", "format": "jsonl", **kwargs})
    export_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def read_file(job) -> bytes:
    with storage.open_for_download(job.storage_key) as fh:
        data = fh.read()
    return gzip.decompress(data) if job.gzip else data


def as_buffer(job) -> io.BytesIO:
    return io.BytesIO(read_file(job))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3_server(monkeypatch):
    """moto's S3 server on loopback: (boto3 client, endpoint URL); bucket "assay-test" exists."""
    from moto.server import ThreadedMotoServer

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    reset = f"{endpoint}/moto-api/reset"  # moto keeps buckets in-process across servers
    __import__("httpx").post(reset)
    client.create_bucket(Bucket="assay-test")
    yield client, endpoint
    server.stop()


@pytest.fixture
def s3_bucket(settings, s3_server):
    """The deployment's export storage on moto's S3 server."""
    client, endpoint = s3_server
    settings.STORAGES = {
        **settings.STORAGES,
        "exports": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "assay-test",
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "file_overwrite": True,
                "default_acl": None,
            },
        },
    }
    return client
