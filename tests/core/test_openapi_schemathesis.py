"""Schemathesis over every operation of `/api/schema/`: no 5xx, every answered status declared, every
response body matching its documented schema.

The schema is loaded from the app itself (WSGI). Each generated request carries a key holding every
scope, on a project filled once by `load_demo`, so reads find rows and writes hit real rules.
"""

from __future__ import annotations

from io import StringIO

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from apps.projects.models import Project, Scope
from apps.projects.services import api_key_create
from config.wsgi import application


def no_server_error(ctx, response, case):
    """`not_a_server_error`, except the documented 503 of the operations that call an LLM endpoint:
    the test settings configure none, and saying so is an answer, not a crash."""
    if response.status_code == 503 and "503" in case.operation.definition.raw.get("responses", {}):
        assert response.json()["error"], "a 503 names what is missing"
        return True
    return not_a_server_error(ctx, response, case)


# Protobuf bodies are bytes: send them as generated (garbage the OTLP decoder must answer 400).
schemathesis.serializer.alias("application/x-protobuf", "application/octet-stream")

CHECKS = [no_server_error, status_code_conformance, response_schema_conformance]

# Building the schema touches no table, so it can be loaded at collection time: one test an operation.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


@pytest.fixture(scope="module")
def demo_key(django_db_setup, django_db_blocker) -> str:
    """The demo project, loaded once for the module inside a transaction rolled back at its end; each
    test's own transaction nests inside it, so what one operation writes is undone before the next."""
    # As Django's test client does: a request must not close the connection that holds the test's
    # transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            call_command("load_demo", traces=40, stdout=StringIO())
            _, key = api_key_create(project=Project.objects.get(slug="demo"), scopes=[s.value for s in Scope])
            yield key
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
# A bounded, deterministic budget: schemathesis adds its coverage cases (boundaries, missing and
# wrong-typed fields) to these fuzzed examples, about 4,000 requests in all.
@settings(max_examples=5, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_its_schema_promises(case, demo_key):
    case.call_and_validate(headers={"Authorization": f"Bearer {demo_key}"}, checks=CHECKS)
