"""Export jobs: where files go (a local folder or S3) and how a job runs."""

from config.env import VAR_DIR, env

EXPORTS_STORAGE_BACKEND = env("EXPORTS_STORAGE_BACKEND", default="local")
EXPORTS_LOCAL_ROOT = env.path("EXPORTS_LOCAL_ROOT", default=str(VAR_DIR / "exports"))
EXPORTS_PREFIX = env("EXPORTS_PREFIX", default="assay-exports")
if EXPORTS_STORAGE_BACKEND == "s3":
    EXPORTS_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("EXPORTS_S3_BUCKET"),
            "endpoint_url": env("EXPORTS_S3_ENDPOINT_URL", default=None),
            "region_name": env("EXPORTS_S3_REGION", default=None),
            "access_key": env("EXPORTS_S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("EXPORTS_S3_SECRET_ACCESS_KEY", default=None),
            "file_overwrite": True,
            "default_acl": None,
        },
    }
else:
    # The folder is made when the first file is published (apps/exports/storage.py).
    EXPORTS_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(EXPORTS_LOCAL_ROOT)},
    }
# Rows per chunk (one progress/heartbeat/cancel check each), when a silent job counts as dead,
# how many runs a job gets, where files are written before they are published.
EXPORTS_CHUNK_SIZE = env.int("EXPORTS_CHUNK_SIZE", default=2000)
EXPORTS_STALE_AFTER_SECONDS = env.int("EXPORTS_STALE_AFTER_SECONDS", default=600)
EXPORTS_MAX_ATTEMPTS = env.int("EXPORTS_MAX_ATTEMPTS", default=2)
EXPORTS_MAX_SELECTED = env.int("EXPORTS_MAX_SELECTED", default=500_000)
EXPORTS_TMP_DIR = env("EXPORTS_TMP_DIR", default="")
# On PostgreSQL, read the next chunk in a thread while the current one is written.
EXPORTS_PREFETCH = env.bool("EXPORTS_PREFETCH", default=True)
# With it, spans exported as JSONL or Parquet are rendered by this many connections at once (one
# snapshot; plus one connection streaming the chunk keys). 1: a single reading thread.
EXPORTS_READERS = env.int("EXPORTS_READERS", default=2)

# Secrets kept in the database (export destination credentials) are Fernet-encrypted with this key:
# comma-separated Fernet keys, the first encrypts (rotation: put the new one first). Unset: derived
# from SECRET_KEY (rotating SECRET_KEY then loses them). See apps/core/encryption.py.
ASSAY_FIELD_ENCRYPTION_KEY = env("ASSAY_FIELD_ENCRYPTION_KEY", default="")
# Stable id of this deployment in export object keys (empty: a random id stored in the database once).
EXPORTS_DEPLOYMENT_ID = env("EXPORTS_DEPLOYMENT_ID", default="")
# Hosts a project's S3 destination may name as endpoint URL (comma-separated; empty: any https host).
EXPORTS_DESTINATION_ENDPOINT_HOSTS = env.list("EXPORTS_DESTINATION_ENDPOINT_HOSTS", default=[])
