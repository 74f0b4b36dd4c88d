"""Jobs: Redis when REDIS_URL is set, else kombu's filesystem transport so one machine needs nothing else."""

from config.env import VAR_DIR, env

REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = None
else:
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_URL = "filesystem://"
    # kombu's filesystem transport that makes its folders when it first connects (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:FilesystemTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# glibc's mmap threshold in worker processes, bytes (apps/core/memory.py); 0 leaves glibc's default.
WORKER_MALLOC_MMAP_THRESHOLD = env.int("WORKER_MALLOC_MMAP_THRESHOLD", default=1 << 20)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Fixed periodic tasks (beat copies them into django-celery-beat's tables); user schedules live there too.
CELERY_BEAT_SCHEDULE = {
    "exports.reap_stale_jobs": {"task": "exports.reap_stale_jobs", "schedule": 60.0},
    # Every active retention policy, once an hour (each policy's run is its own task).
    "retention.run_policies": {
        "task": "retention.run_policies",
        "schedule": env.float("RETENTION_EVERY_SECONDS", default=3600.0),
    },
    # PostgreSQL: span month partitions created ahead (a no-op on SQLite); the maintenance queue.
    "partitions.ensure": {"task": "partitions.ensure", "schedule": 86400.0},
}

# Routed workers: one queue per kind of work, chosen by the task's name prefix, so a new task named
# `experiments.…` or `apps.experiments.tasks.…` lands in its queue without an edit here. A worker started
# without -Q (the embedded run_all worker, the test worker) consumes every queue of CELERY_TASK_QUEUES;
# production starts one pool per queue (`celery -A config worker -Q exports`), see docs/deploy.md.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_DEFAULT_QUEUE", default="default")
ASSAY_QUEUE_PREFIXES = {
    "exports": ("exports",),
    "datasets": ("datasets",),
    "experiments": ("experiments", "scorers", "scoring"),
    "maintenance": ("retention", "maintenance", "partitions"),
}
ASSAY_QUEUES = (CELERY_TASK_DEFAULT_QUEUE, *ASSAY_QUEUE_PREFIXES)
CELERY_TASK_QUEUES = {name: {"exchange": name, "routing_key": name} for name in ASSAY_QUEUES}
CELERY_TASK_ROUTES = {
    pattern: {"queue": queue}
    for queue, prefixes in ASSAY_QUEUE_PREFIXES.items()
    for prefix in prefixes
    for pattern in (f"{prefix}.*", f"apps.{prefix}.*")
}
CELERY_TASK_ALWAYS_EAGER = False
