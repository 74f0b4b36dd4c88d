"""Production settings: secrets have no default, DEBUG is off, HTTPS is assumed."""

import environ
from django.core.exceptions import ImproperlyConfigured

from apps.core.security import secret_key_problem

from .settings import *  # noqa: F403
from .settings import DEVELOPMENT_SECRET_KEY, env

DEBUG = False
try:
    SECRET_KEY = environ.Env()("SECRET_KEY")
    ALLOWED_HOSTS = environ.Env().list("ALLOWED_HOSTS")
except ImproperlyConfigured as exc:
    raise ImproperlyConfigured(f"Production needs SECRET_KEY and ALLOWED_HOSTS in the environment: {exc}")
_key_problem = secret_key_problem(SECRET_KEY, development_key=DEVELOPMENT_SECRET_KEY)
if _key_problem:
    raise ImproperlyConfigured(
        f"{_key_problem} Generate one, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )
if not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must list the real host names in production.")

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
