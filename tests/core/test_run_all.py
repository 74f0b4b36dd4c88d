"""`run_all`, what `make run` ends with: web, worker and beat in one terminal (here with Popen replaced,
so no process is started). `ensure_admin` moved with the project commands: tests/projects/test_commands.py."""

from __future__ import annotations

import signal
import sys
from io import StringIO

from django.core.management import call_command

from apps.core.management.commands import run_all


class FakeProcess:
    """Stands in for subprocess.Popen: running until `exits_after` polls, then exited with code 3."""

    started: list[FakeProcess] = []

    def __init__(self, command):
        self.command = command
        self.signals: list[int] = []
        self.returncode = None
        self.polls = 0
        self.exits_after = 3 if "worker" in command else None
        FakeProcess.started.append(self)

    def poll(self):
        self.polls += 1
        if self.returncode is None and self.exits_after is not None and self.polls >= self.exits_after:
            self.returncode = 3
        return self.returncode

    def send_signal(self, sig):
        self.signals.append(sig)
        self.returncode = -sig

    def wait(self, timeout=None):
        return self.returncode


def test_run_all_starts_web_worker_and_beat_and_stops_the_others_when_one_exits(monkeypatch):
    FakeProcess.started = []
    monkeypatch.setattr(run_all.subprocess, "Popen", FakeProcess)
    monkeypatch.setattr(run_all.time, "sleep", lambda seconds: None)
    out, err = StringIO(), StringIO()
    call_command("run_all", "--addr", "127.0.0.1:8123", stdout=out, stderr=err)

    web, worker, beat = FakeProcess.started
    assert web.command == [sys.executable, "manage.py", "runserver", "127.0.0.1:8123"]
    assert worker.command[:5] == [sys.executable, "-m", "celery", "-A", "config"] and "worker" in worker.command
    assert beat.command[:5] == [sys.executable, "-m", "celery", "-A", "config"] and "beat" in beat.command
    assert "Started web, worker, beat" in out.getvalue()
    assert "worker exited with 3; stopping the others." in err.getvalue()
    # The two still running are asked to stop; the one that exited is left alone.
    assert web.signals == [signal.SIGTERM] and beat.signals == [signal.SIGTERM] and worker.signals == []


def test_run_all_stops_all_three_on_ctrl_c(monkeypatch):
    FakeProcess.started = []
    monkeypatch.setattr(run_all.subprocess, "Popen", FakeProcess)
    calls = []

    def sleep(seconds):
        calls.append(seconds)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(run_all.time, "sleep", sleep)
    monkeypatch.setattr(FakeProcess, "__init__", _never_exits(FakeProcess.__init__))
    call_command("run_all", stdout=StringIO(), stderr=StringIO())
    assert [p.signals for p in FakeProcess.started] == [[signal.SIGTERM]] * 3
    assert FakeProcess.started[0].command[-1] == "127.0.0.1:8000"


def _never_exits(init):
    def wrapped(self, command):
        init(self, command)
        self.exits_after = None

    return wrapped
