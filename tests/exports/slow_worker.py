"""A Celery worker process for tests whose export runs sleep after each chunk, so a test can kill it
mid-export: `python -m tests.exports.slow_worker SECONDS [celery worker options]`. Settings come from
DJANGO_SETTINGS_MODULE (tests/exports/worker_settings.py)."""

import sys

import django


def main() -> None:
    seconds, options = float(sys.argv[1]), sys.argv[2:]
    django.setup()
    from config.celery import app
    from tests.exports.conftest import slow_down_chunks

    slow_down_chunks(seconds)
    app.worker_main(["worker", *options])


if __name__ == "__main__":
    main()
