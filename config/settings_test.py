"""Settings the test suite pins. DATABASE_URL picks SQLite (default: a throwaway file) or PostgreSQL."""

import os
import tempfile

os.environ.setdefault("DATABASE_URL", "sqlite:///:memory:")

from .settings import *  # noqa: E402,F403
from .settings import DATABASES, STORAGES  # noqa: E402

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
_tmp = tempfile.mkdtemp(prefix="assay-test-")
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not shared-cache memory: a Celery worker thread or live server then gets its own
    # connection with ordinary locking (WAL, busy timeout) instead of "database table is locked".
    # As in production (config/settings.py): BEGIN IMMEDIATE, and a busy timeout that is waited on.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(_tmp, "test.sqlite3")}
EXPORTS_LOCAL_ROOT = os.path.join(_tmp, "exports")
if STORAGES["exports"]["BACKEND"].endswith("FileSystemStorage"):
    STORAGES["exports"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": EXPORTS_LOCAL_ROOT},
    }
STORAGES["default"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": os.path.join(_tmp, "media")},
}
STATIC_ROOT = os.path.join(_tmp, "static")
os.makedirs(STATIC_ROOT, exist_ok=True)
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
CELERY_BROKER_URL = os.environ.get("REDIS_URL") or "memory://"
CELERY_TASK_ALWAYS_EAGER = False
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Each process's own memory, whatever REDIS_URL says; no rate limits unless a test sets them
# (tests/core/test_throttling.py), as the suite sends many requests from 127.0.0.1.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "assay-test"}}
RATE_LIMITS = dict.fromkeys(RATE_LIMITS, "")  # noqa: F405
CELERY_BROKER_TRANSPORT = None  # the URL above picks the transport, not the embedded filesystem default
# A second alias for the read-replica tests (tests/core/test_db_router.py): the same test database under
# TEST MIRROR, so what the primary commits the replica shows. The router stays off unless a test turns it
# on (override_settings(DATABASE_ROUTERS=…)), so every other test reads and writes one alias.
DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS: list[str] = []
