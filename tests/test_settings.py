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
    return any(line.split("=", 1)[0].strip() == name and line.split("=", 1)[1].strip()
               for line in dotenv.read_text().splitlines() if "=" in line and not line.startswith("#"))


def manage(*args: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    # Also drop what other tests of the same run may have set (the browser tests allow async-unsafe calls).
    dropped = {"SECRET_KEY", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE", "DEBUG", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    clean.update({"DJANGO_SETTINGS_MODULE": "config.settings_production",
                  "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}"})
    clean.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=clean,
                          capture_output=True, text=True, timeout=120)


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
    result = manage("check", "--deploy", tmp_path=tmp_path, SECRET_KEY=GOOD_KEY,
                    ALLOWED_HOSTS="assay.example.com", DEBUG="True")
    assert result.returncode == 0, result.stderr
    assert "security.W" not in result.stdout + result.stderr
    shown = manage("shell", "-c", "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
                   tmp_path=tmp_path, SECRET_KEY=GOOD_KEY, ALLOWED_HOSTS="assay.example.com", DEBUG="True")
    assert shown.stdout.strip().splitlines()[-1] == "False ['assay.example.com']", shown.stderr
