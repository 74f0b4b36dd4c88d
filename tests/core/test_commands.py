"""The commands `make run` runs: `ensure_admin` (the login it prints works; `--password` resets it) and
`run_all --prepare` (migrate, demo, admin, then web + worker + beat; Ctrl-C stops all three)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from apps.core.management.commands.run_all import Command as RunAll
from apps.projects.models import Membership, Project, Role
from tests import factories

BASE_DIR = Path(__file__).resolve().parents[2]


def _login(out: str) -> tuple[str, str]:
    username, password = re.search(r"Admin login: (\S+) / (\S+)", out).groups()
    return username, password


def _signs_in(username: str, password: str) -> bool:
    response = Client().post("/admin/login/", {"username": username, "password": password, "next": "/admin/"})
    return response.status_code == 302


@pytest.mark.django_db
def test_ensure_admin_prints_a_login_that_works_and_makes_it_admin_everywhere():
    projects = [factories.ProjectFactory(slug=s) for s in ("one", "two")]
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    username, password = _login(out.getvalue())
    assert username == "admin" and len(password) >= 12
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.is_staff
    assert {m.project for m in Membership.objects.filter(user=user, role=Role.ADMIN)} == set(projects)
    assert _signs_in("admin", password)


@pytest.mark.django_db
def test_ensure_admin_again_keeps_the_password_and_password_resets_it():
    call_command("ensure_admin", stdout=StringIO())
    user = get_user_model().objects.get(username="admin")
    stored = user.password
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    assert "password unchanged" in out.getvalue() and "Admin login" not in out.getvalue()
    user.refresh_from_db()
    assert user.password == stored
    out = StringIO()
    call_command("ensure_admin", "--password", "a-new-admin-password-9", stdout=out)
    assert _login(out.getvalue()) == ("admin", "a-new-admin-password-9")
    assert _signs_in("admin", "a-new-admin-password-9")


@pytest.mark.django_db
def test_run_all_prepare_migrates_loads_the_demo_and_makes_the_admin():
    command = RunAll(stdout=StringIO())
    command.prepare()
    out = command.stdout.getvalue()
    assert "Loaded demo project demo" in out and "Admin login: admin / " in out
    demo = Project.objects.get(slug="demo")
    assert Membership.objects.get(project=demo, user__username="admin").role == Role.ADMIN
    # A second start leaves the demo and the password alone.
    again = RunAll(stdout=StringIO())
    again.prepare()
    assert "leaving it as it is" in again.stdout.getvalue() and "password unchanged" in again.stdout.getvalue()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in found]


def test_run_all_serves_the_admin_and_ctrl_c_stops_all_three(tmp_path):
    """The real thing, as `make run` starts it (a throwaway SQLite file; the checkout's var/ broker)."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DATABASE_URL=f"sqlite:///{tmp_path / 'run.sqlite3'}")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "run_all", "--prepare", "--addr", f"127.0.0.1:{port}"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/", timeout=2) as answer:
                    status = answer.status
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, proc.stdout.read() if proc.poll() is not None else "no answer"
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        children = _children(proc.pid)
        assert len(children) == 3  # web, worker, beat
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        output = proc.stdout.read()
        assert "Admin login: admin / " in output and f"Assay admin: http://127.0.0.1:{port}/admin/" in output
        assert "Started web, worker, beat" in output
        for child in children:
            assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
