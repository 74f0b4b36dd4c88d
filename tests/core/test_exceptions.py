"""`api_exception_handler`: the one error shape, and a delete that rows elsewhere still hold."""

from __future__ import annotations

from django.db.models import ProtectedError, RestrictedError

from apps.core.exceptions import ApplicationError, api_exception_handler
from apps.queues.models import ReviewQueue
from apps.traces.models import Span


def test_an_application_error_keeps_its_status_and_fields():
    response = api_exception_handler(ApplicationError("No.", fields={"name": ["Required."]}, status=409), {})
    assert response.status_code == 409
    assert response.data == {"error": "No.", "fields": {"name": ["Required."]}}


def test_a_protected_delete_is_a_400_naming_what_holds_it_not_a_500():
    error = ProtectedError("protected", {Span(pk=1), ReviewQueue(pk=1), Span(pk=2)})
    response = api_exception_handler(error, {})
    assert response.status_code == 400
    assert response.data["error"] == "It is still used by review queues, spans and cannot be deleted."
    assert response.data["fields"] == {"non_field_errors": ["Still used by review queues, spans."]}


def test_a_restricted_delete_is_answered_the_same_way():
    response = api_exception_handler(RestrictedError("restricted", {ReviewQueue(pk=1)}), {})
    assert response.status_code == 400 and "review queues" in response.data["error"]
