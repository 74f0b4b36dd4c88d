"""Assay settings, read from the environment (see .env.example).

The defaults are the embedded development setup: SQLite under var/, kombu's
filesystem broker, exports to a local folder. Production is config.settings_production.
"""

from datetime import timedelta

from config.env import BASE_DIR, VAR_DIR, env

DEBUG = env.bool("DEBUG", default=True)
# Only the embedded development default has a key; production refuses it (and any weak key).
DEVELOPMENT_SECRET_KEY = "assay-insecure-development-key-change-me-0123456789"  # noqa: S105
SECRET_KEY = env("SECRET_KEY", default=DEVELOPMENT_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "apps.core.apps.AssayAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "import_export",
    "apps.core",
    "apps.projects",
    "apps.traces",
    "apps.reviews",
    "apps.queues",
    "apps.datasets",
    "apps.exports",
    "apps.experiments",
    "apps.retention",
    "apps.views",
    "apps.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "apps.core.middleware.HostileRequestMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.core.db_router.ReplicaReadsMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'assay.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the worker share the file. Every transaction
    # takes the write lock when it begins (BEGIN IMMEDIATE): a deferred one that reads and then
    # writes fails at once with "database is locked" when another writer got in between, whatever
    # the timeout; an immediate one waits up to `timeout` seconds for its turn instead.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": env.int("SQLITE_TIMEOUT", default=30),
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# A read replica (PostgreSQL streaming replica of the primary): admin lists, API list/retrieve reads and
# the export reader use it; writes, reservations and reads after a write stay on the primary
# (apps/core/db_router.py). Unset: one database.
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL", default="")
# After a request that wrote, that browser or client reads the primary for this long (replica lag).
DATABASE_REPLICA_PIN_SECONDS = env.int("DATABASE_REPLICA_PIN_SECONDS", default=5)
DATABASE_ROUTERS: list[str] = []
if DATABASE_REPLICA_URL:
    DATABASES["replica"] = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"].update(
        {"CONN_MAX_AGE": env.int("CONN_MAX_AGE", default=60), "ATOMIC_REQUESTS": False, "TEST": {"MIRROR": "default"}}
    )
    DATABASE_ROUTERS = ["apps.core.db_router.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=str(VAR_DIR / "static"))
STATICFILES_DIRS = [BASE_DIR / "static"]

# Integrations, one module each (config/settings_parts/): exports storage, Celery, the LLM endpoint.
from config.settings_parts.celery import *  # noqa: E402,F403
from config.settings_parts.celery import REDIS_URL  # noqa: E402
from config.settings_parts.exports import *  # noqa: E402,F403
from config.settings_parts.exports import EXPORTS_STORAGE  # noqa: E402
from config.settings_parts.llm import *  # noqa: E402,F403

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(VAR_DIR / "media")},
    },
    "staticfiles": {
        "BACKEND": env("STATICFILES_BACKEND", default="django.contrib.staticfiles.storage.StaticFilesStorage")
    },
    "exports": EXPORTS_STORAGE,
}
CELERY_TIMEZONE = TIME_ZONE

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.projects.authentication.ProjectAPIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.projects.api_permissions.IsProjectMember"],
    # One layer bounds every parsed body: size, depth, lone surrogates, U+0000 (apps/core/parsing.py).
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsing.BoundedJSONParser",
        "apps.core.parsing.BoundedFormParser",
        "apps.core.parsing.BoundedMultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["apps.core.filters.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "apps.core.schema.AssayAutoSchema",
    "EXCEPTION_HANDLER": "apps.core.exceptions.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.IdCursorPagination",
    "PAGE_SIZE": 50,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Assay API",
    "DESCRIPTION": "Ingest LLM traces, annotate them, curate versioned datasets and export them.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from the sidecar package: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a `source` choice field; name each enum in the schema.
    "ENUM_NAME_OVERRIDES": {
        "ScoreSourceEnum": "apps.reviews.models.ScoreSource",
        "AnnotationSourceEnum": "apps.reviews.models.AnnotationSource",
        "ExportSourceEnum": "apps.exports.models.ExportSource",
        "DestinationKindEnum": "apps.exports.models.DestinationKind",
        "ScheduleKindEnum": "apps.exports.models.ScheduleKind",
        "RetentionRunStatusEnum": "apps.retention.models.RunStatus",
        "ExperimentStatusEnum": "apps.experiments.models.ExperimentStatus",
        "ScorerKindEnum": "apps.experiments.models.ScorerKind",
    },
}

# Ingest limits.
INGEST_MAX_BODY_BYTES = env.int("INGEST_MAX_BODY_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_BODY_BYTES

# Rate limits on the public surfaces (apps/core/throttling.py), "N/s|m|h|d", empty for none. Counted
# in the default cache: Redis when REDIS_URL is set (shared by all web processes), else per process.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "assay",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "assay"}}
RATE_LIMITS = {
    "feedback_key": env("RATE_LIMIT_FEEDBACK_PER_KEY", default="600/m"),
    "feedback_address": env("RATE_LIMIT_FEEDBACK_PER_ADDRESS", default="60/m"),
    "share_link": env("RATE_LIMIT_SHARE_PER_LINK", default="300/m"),
    "share_address": env("RATE_LIMIT_SHARE_PER_ADDRESS", default="60/m"),
    "auth_failure_address": env("RATE_LIMIT_KEY_FAILURES_PER_ADDRESS", default="20/m"),
}
# Proxies in front of Assay that append to X-Forwarded-For (0: the client is REMOTE_ADDR).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Admin sign-in lockout (django-axes): after N failures in a row from one address or for one user
# name, every sign-in of that address / user name (right password included) is refused for the cool-off.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += ["apps.core.security.ContentSecurityPolicyMiddleware", "axes.middleware.AxesMiddleware"]
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("ADMIN_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [
    p.split("+") if "+" in p else p for p in env.list("ADMIN_LOGIN_LOCKOUT_BY", default=["ip_address", "username"])
]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "apps.core.throttling.client_ip"
AXES_LOCKOUT_CALLABLE = "apps.core.admin_lockout.lockout_response"
# Lockouts are cleared with `manage.py axes_reset` / `axes_reset_username`; no admin screens of their own.
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False

LOGIN_URL = "admin:login"

# Links in mails and printed by commands (set-password links of new members) start with this.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000")
# Mail (set-password links of new members): sent only when EMAIL_HOST is set; otherwise the link is
# shown to whoever added the member, to pass on.
EMAIL_HOST = env("EMAIL_HOST", default="")
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=True)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="assay@localhost")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Retention (apps/retention): traces deleted per transaction by a run's batched DELETE.
RETENTION_BATCH_TRACES = env.int("RETENTION_BATCH_TRACES", default=1000)
# PostgreSQL: a run drops a whole month partition of spans when all of it is doomed (apps/retention/partition_drop.py).
RETENTION_PARTITION_DROP = env.bool("RETENTION_PARTITION_DROP", default=True)
# PostgreSQL span partitions (apps/traces/partitions.py): months beat creates ahead of the current one.
SPAN_PARTITIONS_AHEAD = env.int("SPAN_PARTITIONS_AHEAD", default=3)
