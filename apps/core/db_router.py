"""Reads from a replica where a little lag is harmless; everything else on the primary.

With `DATABASE_REPLICA_URL` set there is a second database alias, `replica`, and this router. Reads go
to it only inside a *replica scope*:

- `ReplicaReadsMiddleware` opens one for safe-method requests (GET, HEAD) to the admin changelists
  and the API's list and retrieve views;
- `replica_reads()` opens one in code: the export reader (apps/exports/prefetch.py, services.py).

Inside a scope a read stays on the primary when its model's data must be fresh (users, sessions,
projects, memberships and API keys: a revoked key or a removed member must stop working at once), when
the primary is inside a transaction (a reservation's `select_for_update`, or any read that belongs
with the transaction's writes), and after any write in the same scope (what was just written is read
back from where it was written; writes to the always-primary models above do not count). Outside a scope everything uses the primary. Writes always do.

A request that wrote sets a short-lived cookie (`DATABASE_REPLICA_PIN_SECONDS`), so the page shown
after a redirect (the list after saving an object) reads the primary too, not a replica that has not
caught up.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connections, router

DEFAULT = "default"
REPLICA = "replica"
ROUTER_PATH = "apps.core.db_router.ReplicaRouter"
PIN_COOKIE = "assay_primary"
SAFE_METHODS = frozenset({"GET", "HEAD"})
# Apps whose reads may lag by the replica's delay. Not here: auth, sessions, axes, projects (scoping,
# memberships, API keys) and django_celery_beat.
REPLICA_APPS = frozenset(
    {"traces", "reviews", "queues", "datasets", "exports", "experiments", "views", "audit", "retention"}
)
# Append-only logs: writing one (the audit event of a key's first use) changes nothing a page reads back.
UNPINNING_APPS = frozenset({"audit"})
REPLICA_API_ACTIONS = frozenset({"list", "retrieve"})


@dataclass
class _Scope:
    enabled: bool = True
    wrote: bool = False


_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("assay_replica_scope", default=None)


def replica_configured() -> bool:
    """True when reads in a replica scope can go to a replica: the alias exists and the router is on."""
    return REPLICA in settings.DATABASES and any(isinstance(r, ReplicaRouter) for r in router.routers)


def replica_alias() -> str:
    """The alias reads in a replica scope use (for `transaction.atomic(using=…)` around them)."""
    return REPLICA if replica_configured() else DEFAULT


@contextmanager
def replica_reads() -> Iterator[None]:
    """Reads inside may use the replica (until the first write inside, which pins the rest to the primary)."""
    token = _scope.set(_Scope())
    try:
        yield
    finally:
        _scope.reset(token)


def replica_iter(items: Iterable) -> Iterator:
    """Iterate `items` (a generator that reads) with each step inside a replica scope, and only the
    steps: whatever the caller does between two items (progress writes, claim checks) stays outside."""
    it = iter(items)
    try:
        while True:
            with replica_reads():
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        scope = _scope.get()
        if scope is None or not scope.enabled or scope.wrote:
            return DEFAULT
        if model._meta.app_label not in REPLICA_APPS or REPLICA not in settings.DATABASES:
            return DEFAULT
        if connections[DEFAULT].in_atomic_block:
            return DEFAULT
        return REPLICA

    def db_for_write(self, model, **hints):
        scope = _scope.get()
        # Writes to models always read on the primary (an API key's last use) change nothing read here.
        label = model._meta.app_label
        if scope is not None and label in REPLICA_APPS and label not in UNPINNING_APPS:
            scope.wrote = True
        return DEFAULT

    def allow_relation(self, obj1, obj2, **hints):
        return True  # one database, two copies of it

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT


def _replica_view(request, view_func) -> bool:
    match = request.resolver_match
    if match is not None and match.namespace == "admin" and (match.url_name or "").endswith("_changelist"):
        return True
    actions = getattr(view_func, "actions", None)  # a DRF viewset's {method: action}
    if actions:
        return actions.get("get") in REPLICA_API_ACTIONS
    from rest_framework.generics import ListAPIView, RetrieveAPIView

    view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
    return isinstance(view_class, type) and issubclass(view_class, (ListAPIView, RetrieveAPIView))


class ReplicaReadsMiddleware:
    """A replica scope per request, enabled only for the views `_replica_view` names (see the module)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if REPLICA not in settings.DATABASES:
            return self.get_response(request)
        scope = _Scope(enabled=False)
        token = _scope.set(scope)
        try:
            response = self.get_response(request)
        finally:
            _scope.reset(token)
        if scope.wrote or request.method not in SAFE_METHODS:
            seconds = getattr(settings, "DATABASE_REPLICA_PIN_SECONDS", 5)
            if seconds:
                response.set_cookie(PIN_COOKIE, "1", max_age=seconds, httponly=True, samesite="Lax")
        return response

    def process_view(self, request, view_func, view_args, view_kwargs):
        scope = _scope.get()
        if scope is None or request.method not in SAFE_METHODS or request.COOKIES.get(PIN_COOKIE):
            return None
        scope.enabled = _replica_view(request, view_func)
        return None
