"""Production settings refuse to start without secrets, keep DEBUG off and pass `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
GOOD_KEY = "x7Hq2-very-long-random-production-secret-key-for-tests-0123456789abcdefghijkl"


def _dotenv_sets(name: str) -> bool:
    dotenv = BASE_DIR / ".env"
    if not dotenv.exists():
        return False
    return any(
        line.split("=", 1)[0].strip() == name and line.split("=", 1)[1].strip()
        for line in dotenv.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


def manage(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    # Also drop what other tests of the same run may have set (the browser tests allow async-unsafe calls).
    dropped = {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings_production",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
        }
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(autouse=True)
def _no_dotenv_secrets():
    if _dotenv_sets("SECRET_KEY") or _dotenv_sets("ALLOWED_HOSTS"):
        pytest.skip(".env in the checkout sets SECRET_KEY/ALLOWED_HOSTS; these tests need them unset")


def test_refuses_to_start_without_secret_key(tmp_path):
    result = manage("check", tmp_path=tmp_path, ALLOWED_HOSTS="assay.example.com")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_refuses_to_start_without_allowed_hosts(tmp_path):
    result = manage("check", tmp_path=tmp_path, SECRET_KEY=GOOD_KEY)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_refuses_a_wildcard_host(tmp_path):
    result = manage("check", tmp_path=tmp_path, SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="*")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS" in result.stderr


def test_passes_check_deploy_with_debug_forced_off(tmp_path):
    result = manage(
        "check", "--deploy", tmp_path=tmp_path, SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="assay.example.com", DEBUG="True"
    )
    assert result.returncode == 0, result.stderr
    assert "security.W" not in result.stdout + result.stderr
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        tmp_path=tmp_path,
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="assay.example.com",
        DEBUG="True",
    )
    assert shown.stdout.strip().splitlines()[-1] == "False ['assay.example.com']", shown.stderr


@pytest.mark.parametrize(
    "key, reason",
    [
        ("assay-insecure-development-key-change-me-0123456789", "development key"),
        ("django-insecure-" + "k3Jx9Lq2Zr7Wm4Tn8Vb5Yc1Hd6Gf0Sa" * 2, "development key"),
        ("Qz8vR2mK5pX9wL3nT7yB4cH6jF1dG0sA" + "e5Wq9Zr2Tk7", "characters long"),
        ("a" * 64, "distinct characters"),
        ("abcabc123" * 8, "distinct characters"),
    ],
)
def test_refuses_a_weak_or_published_secret_key(tmp_path, key, reason):
    from config.settings import DEVELOPMENT_SECRET_KEY

    assert DEVELOPMENT_SECRET_KEY == "assay-insecure-development-key-change-me-0123456789"
    result = manage("check", tmp_path=tmp_path, SECRET_KEY=key, ALLOWED_HOSTS="assay.example.com")
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and reason in result.stderr, result.stderr[-800:]
    assert key not in result.stderr  # the refused key itself is not echoed into logs


@pytest.mark.parametrize(
    "key",
    [
        "ci-only-secret-key-that-is-long-enough-for-check-deploy-0123456789abcdef",  # what .ci/run uses
        "0f8e2c4b6a1d3957e8c0b2a4d6f81357924680ace13579bdf02468ace1357924",  # openssl rand -hex 32
    ],
)
def test_accepts_a_long_random_key_and_check_deploy_is_clean_at_warning_level(tmp_path, key):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        tmp_path=tmp_path,
        SECRET_KEY=key,
        ALLOWED_HOSTS="assay.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def _cache_backend(tmp_path, **env: str) -> str:
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.CACHES['default']['BACKEND'])",
        tmp_path=tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings",
        **env,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.strip().splitlines()[-1]


def test_rate_limit_counts_live_in_redis_when_redis_url_is_set_else_in_memory(tmp_path):
    assert (
        _cache_backend(tmp_path, REDIS_URL="redis://127.0.0.1:6379/5") == "django.core.cache.backends.redis.RedisCache"
    )
    assert _cache_backend(tmp_path, REDIS_URL="") == "django.core.cache.backends.locmem.LocMemCache"


SQLITE_WRITERS = r"""
import threading, time
import django
django.setup()
from django.db import connection, connections, transaction

print("mode", connection.settings_dict["OPTIONS"].get("transaction_mode"))
with connection.cursor() as c:
    print("busy_timeout", c.execute("PRAGMA busy_timeout").fetchone()[0])
    c.execute("CREATE TABLE counter (n integer)")
    c.execute("INSERT INTO counter VALUES (0)")
errors = []

def bump(pause_before_write, hold):
    try:
        with transaction.atomic(), connection.cursor() as c:
            n = c.execute("SELECT n FROM counter").fetchone()[0]
            time.sleep(pause_before_write)
            c.execute("UPDATE counter SET n = %s", [n + 1])
            time.sleep(hold)
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connections.close_all()

threads = [threading.Thread(target=bump, args=(0.3, 0.6)), threading.Thread(target=bump, args=(0.5, 0))]
for t in threads:
    t.start()
    time.sleep(0.05)
for t in threads:
    t.join()
with connection.cursor() as c:
    print("count", c.execute("SELECT n FROM counter").fetchone()[0])
print("errors", errors)
"""


def test_embedded_sqlite_takes_the_write_lock_up_front_and_waits_for_it(tmp_path):
    """Two read-then-write transactions at once on the embedded default: the second waits for the
    first (BEGIN IMMEDIATE with a busy timeout) instead of failing with "database is locked", and
    neither loses the other's update."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"}}
    clean.update(
        {"DJANGO_SETTINGS_MODULE": "config.settings", "DATABASE_URL": f"sqlite:///{tmp_path / 'embedded.sqlite3'}"}
    )
    result = subprocess.run(
        [sys.executable, "-c", SQLITE_WRITERS], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(" ", 1) for line in result.stdout.strip().splitlines())
    assert lines["mode"] == "IMMEDIATE"
    assert int(lines["busy_timeout"]) >= 5000
    assert lines["errors"] == "[]"
    assert lines["count"] == "2"


def test_a_replica_url_adds_the_replica_alias_and_its_router(tmp_path):
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; d = settings.DATABASES.get('replica', {}); "
        "print(d.get('NAME'), d.get('HOST'), settings.DATABASE_ROUTERS)",
        tmp_path=tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_REPLICA_URL="postgres://reader@replica.internal:5432/assay",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip().splitlines()[-1] == "assay replica.internal ['apps.core.db_router.ReplicaRouter']"
    shown = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(sorted(settings.DATABASES), settings.DATABASE_ROUTERS)",
        tmp_path=tmp_path,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_REPLICA_URL="",
    )
    assert shown.stdout.strip().splitlines()[-1] == "['default'] []"
