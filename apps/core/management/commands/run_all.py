"""Start the web server, a Celery worker and Celery beat together; Ctrl-C stops all three.

`--prepare` first migrates, loads the demo project and ensures the admin login, in this one process
(each `manage.py` start costs seconds of imports). The worker and beat start once the web server
accepts connections, so on a small machine the admin answers first; jobs wait in the broker meanwhile.
"""

import signal
import socket
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

WEB_WAIT_SECONDS = 60


def _accepting(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=0.5):
            return True
    except OSError:
        return False


def job_commands(python: str) -> dict[str, list[str]]:
    """The worker and beat of the embedded setup: one worker consumes every queue (production runs a
    pool per queue, docs/deploy.md)."""
    queues = ",".join(settings.ASSAY_QUEUES)
    return {
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "--loglevel=INFO",
            "--concurrency=2",
        ],
        "beat": [python, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO"],
    }


class Command(BaseCommand):
    help = "Run the development web server, a Celery worker and beat in one terminal."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="host:port of the web server.")
        parser.add_argument(
            "--prepare", action="store_true", help="First migrate, load the demo project and ensure the admin login."
        )

    def prepare(self) -> None:
        call_command("migrate", interactive=False, verbosity=0, stdout=self.stdout)
        call_command("load_demo", stdout=self.stdout)
        call_command("ensure_admin", stdout=self.stdout)

    def handle(self, *args, addr, prepare, **options):
        if prepare:
            self.prepare()
        python = sys.executable
        # The checks ran with the migration above; the server need not run them again.
        web = [python, "manage.py", "runserver", addr, *(["--skip-checks"] if prepare else [])]
        jobs = job_commands(python)
        self.stdout.write(f"Assay admin: http://{addr}/admin/")
        processes = {"web": subprocess.Popen(web)}  # noqa: S603
        try:
            deadline = time.monotonic() + WEB_WAIT_SECONDS
            while not _accepting(addr) and time.monotonic() < deadline and processes["web"].poll() is None:
                time.sleep(0.2)
            if processes["web"].poll() is None:
                processes.update({name: subprocess.Popen(cmd) for name, cmd in jobs.items()})  # noqa: S603
                self.stdout.write(f"Started {', '.join(processes)}; Ctrl-C stops them.")
            while True:
                for name, proc in processes.items():
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with {proc.returncode}; stopping the others.")
                        raise KeyboardInterrupt
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            for proc in processes.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in processes.values():
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
