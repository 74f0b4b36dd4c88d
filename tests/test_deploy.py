"""docs/compose.yaml starts the topology docs/deploy.md describes: it parses, and its parts fit Assay."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.conf import settings

BASE_DIR = Path(__file__).resolve().parent.parent
COMPOSE = BASE_DIR / "docs" / "compose.yaml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _env_example_names() -> set[str]:
    text = (BASE_DIR / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def test_the_compose_file_has_every_part_of_the_topology():
    services = _compose()["services"]
    assert {"nginx", "web1", "web2", "beat", "redis", "postgres", "postgres-replica", "minio", "migrate"} <= set(
        services
    )
    nginx = _compose()["configs"]["nginx"]["content"]
    assert "server web1:8000;" in nginx and "server web2:8000;" in nginx
    assert "X-Forwarded-Proto" in nginx


def test_one_worker_pool_per_queue_and_exactly_one_beat():
    services = _compose()["services"]
    consumed = []
    for name, service in services.items():
        command = service.get("command", "")
        if isinstance(command, str) and " worker " in f" {command} ":
            queues = command.split("-Q", 1)[1].split()[0].split(",")
            consumed += queues
            assert name == f"worker-{queues[0]}"
    assert sorted(consumed) == sorted(settings.ASSAY_QUEUES)
    beats = [n for n, s in services.items() if isinstance(s.get("command"), str) and " beat" in s["command"]]
    assert beats == ["beat"]


def test_the_processes_share_one_environment_that_names_primary_replica_redis_and_s3():
    services = _compose()["services"]
    env = services["web1"]["environment"]
    assert env == services["worker-exports"]["environment"] == services["beat"]["environment"]
    assert env["DJANGO_SETTINGS_MODULE"] == "config.settings_production"
    assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:" in env["DATABASE_URL"]
    assert "@postgres-replica:" in env["DATABASE_REPLICA_URL"]
    assert env["REDIS_URL"].startswith("redis://redis:")
    assert env["EXPORTS_STORAGE_BACKEND"] == "s3" and env["EXPORTS_S3_ENDPOINT_URL"] == "http://minio:9000"
    # Every variable is a documented setting (the replica URL is documented with the database router).
    assert set(env) - _env_example_names() <= {"DATABASE_REPLICA_URL"}
    replica = _compose()["configs"]["replica-start"]["content"]
    assert "pg_basebackup" in replica and " -R " in replica  # a streaming standby of the primary
