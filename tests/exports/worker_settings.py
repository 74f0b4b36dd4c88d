"""Settings for a `celery worker` subprocess started by tests: the test database and export folder of
the test process (passed through the environment), and its broker."""

import os

from config.settings_test import *  # noqa: F403
from config.settings_test import STORAGES

EXPORTS_LOCAL_ROOT = os.environ["EXPORTS_LOCAL_ROOT"]
STORAGES["exports"] = {
    "BACKEND": "django.core.files.storage.FileSystemStorage",
    "OPTIONS": {"location": EXPORTS_LOCAL_ROOT},
}
CELERY_BROKER_URL = os.environ["REDIS_URL"]
