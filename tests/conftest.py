"""Shared fixtures. Services (PostgreSQL, Redis, Chromium) are required under CI and skipped elsewhere."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
from urllib.parse import urlparse

import pytest
from rest_framework.test import APIClient

from apps.projects.models import Role
from apps.projects.services import api_key_create, membership_set
from tests import factories

IN_CI = bool(os.environ.get("CI"))
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def need_service(reason: str) -> None:
    """Fail under CI, where every service must be present; skip with the reason elsewhere."""
    if IN_CI:
        pytest.fail(f"required service missing in CI: {reason}")
    pytest.skip(reason)


def pytest_runtest_setup(item):
    """Tests marked `postgres` need PostgreSQL: skipped on SQLite, failed under CI, where the SQLite run
    deselects them (`-m "not postgres"`) and the PostgreSQL run must run them."""
    if item.get_closest_marker("postgres"):
        from django.db import connection

        if connection.vendor != "postgresql":
            need_service("needs PostgreSQL: run with DATABASE_URL=postgres://…")


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_url(worker_id) -> str:
    """TEST_REDIS_URL (default redis://127.0.0.1:6379/1), its database number offset per xdist worker,
    so in-process Celery workers of parallel test runs never take each other's tasks."""
    url = urlparse(os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/1"))
    if not _reachable(url.geturl(), 6379):
        need_service(f"Redis is not reachable at {url.geturl()}")
    base_db = int(url.path.strip("/") or 1)
    offset = 0 if worker_id == "master" else int(worker_id.removeprefix("gw"))
    return f"redis://{url.hostname or '127.0.0.1'}:{url.port or 6379}/{base_db + offset}"


def _reset_celery_connections(app) -> None:
    """Drop pooled broker connections so a changed broker_url takes effect for the next send, kombu's
    process-wide pool registry included (a producer pool kept there would hold the closed pool)."""
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    pools.reset()


@contextlib.contextmanager
def _broker(url: str):
    """The Celery app sends to `url` (no eager mode, no result backend) inside the block, and to what it
    sent to before afterwards, with pooled connections dropped both ways: a test that switches the broker
    never leaves a later test sending to the wrong one."""
    from config.celery import app

    previous = {
        "broker_url": app.conf.broker_url,
        "task_always_eager": app.conf.task_always_eager,
        "result_backend": app.conf.result_backend,
    }
    app.conf.update(broker_url=url, task_always_eager=False, result_backend=None)
    _reset_celery_connections(app)
    try:
        yield app
    finally:
        app.conf.update(previous)
        _reset_celery_connections(app)


@pytest.fixture
def redis_broker(redis_url, transactional_db):
    """Tasks go to this test run's Redis database, emptied before and after."""
    with _broker(redis_url) as app:
        with app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()
        yield redis_url
        with app.connection_for_write() as conn:
            conn.default_channel.client.flushdb()


@pytest.fixture
def memory_broker():
    """Tasks go to kombu's in-process memory transport."""
    with _broker("memory://") as app:
        yield app


@pytest.fixture
def celery_worker(redis_broker):
    """A real Celery worker (solo pool, in a thread) consuming from Redis."""
    from celery.contrib.testing.worker import start_worker

    from config.celery import app

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        need_service(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def _async_unsafe_for_playwright(request):
    if request.node.get_closest_marker("browser"):
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield


@pytest.fixture
def project(db):
    return factories.ProjectFactory(slug="acme")


@pytest.fixture
def other_project(db):
    return factories.ProjectFactory(slug="other")


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def key_client():
    """key_client(project, scopes=("read",)) -> an APIClient that sends that project's new key."""

    def make(project, scopes=("ingest", "read", "write")) -> APIClient:
        _, key = api_key_create(project=project, scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        client.raw_key = key
        return client

    return make


@pytest.fixture
def member():
    """member(project, role="reviewer") -> a staff user with that role in the project."""

    def make(project, role: str = Role.REVIEWER, username: str | None = None):
        user = factories.UserFactory(username=username) if username else factories.UserFactory()
        membership_set(project=project, user=user, role=role)
        return user

    return make


@pytest.fixture
def client_as(member):
    """client_as(role, project) -> an APIClient signed in (a real session) as a new member with that role
    in the project; client_as(user=u) signs in an existing user. For admin pages and the API alike;
    the user is `client.user`."""

    def make(role: str | None = None, project=None, *, user=None, username: str | None = None) -> APIClient:
        if user is None:
            user = member(project, role=role or Role.REVIEWER, username=username)
        elif role is not None:
            membership_set(project=project, user=user, role=role)
        client = APIClient()
        client.force_login(user)
        client.user = user
        return client

    return make


@pytest.fixture
def http_as(live_server):
    """http_as(user) -> an httpx.Client signed in as `user` on the live server (a real session
    cookie and a CSRF token), for tests that drive concurrent clients over HTTP."""
    import httpx
    from django.conf import settings
    from django.test import Client
    from django.utils.crypto import get_random_string

    opened: list = []

    def make(user):
        signed_in = Client()
        signed_in.force_login(user)
        secret = get_random_string(32)
        http = httpx.Client(
            base_url=live_server.url,
            timeout=120,
            follow_redirects=False,
            cookies={
                settings.SESSION_COOKIE_NAME: signed_in.cookies[settings.SESSION_COOKIE_NAME].value,
                settings.CSRF_COOKIE_NAME: secret,
            },
            headers={"X-CSRFToken": secret},
        )
        opened.append(http)
        return http

    yield make
    for http in opened:
        http.close()


@pytest.fixture(scope="session")
def live_server(request, django_db_setup, django_db_blocker):
    """pytest-django's live server, started once the test database exists. Started earlier, it sees the
    SQLite NAME still ":memory:" and hands every server thread the one connection of the test thread:
    two concurrent requests then share it and crash SQLite (the review page prefetches while it saves)."""
    from pytest_django import live_server_helper

    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    with django_db_blocker.unblock():
        server = live_server_helper.LiveServer(addr)
    yield server
    server.stop()
