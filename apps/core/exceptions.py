"""The one application error, and the DRF handler that renders it and Django's ValidationError."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import ProtectedError, RestrictedError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A rule was broken. `fields` maps a field path to its messages; `status` is the HTTP status."""

    def __init__(self, message: str, *, fields: dict[str, Any] | None = None, status: int = 400):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.message, "fields": self.fields}


def not_found(what: str = "Not found.") -> ApplicationError:
    return ApplicationError(what, status=404)


def unknown_fields_refuse(given: Iterable[str], known: Iterable[str], message: str = "Unknown fields.") -> None:
    """A 400 naming each given field that is not a known one (services take only the fields they know)."""
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise ApplicationError(message, fields={k: ["Unknown field."] for k in unknown})


def _django_validation_fields(exc: DjangoValidationError) -> dict[str, Any]:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for e in errors for m in e.messages] for field, errors in exc.error_dict.items()}
    return {"non_field_errors": list(exc.messages)}


def _still_used(exc: ProtectedError | RestrictedError) -> ApplicationError:
    """A delete that rows elsewhere still point at: name what keeps it (a service should have said so first)."""
    kinds = sorted({obj._meta.verbose_name_plural for obj in exc.args[1]}) if len(exc.args) > 1 else []
    used_by = ", ".join(str(kind) for kind in kinds) or "other objects"
    return ApplicationError(
        f"It is still used by {used_by} and cannot be deleted.",
        fields={"non_field_errors": [f"Still used by {used_by}."]},
    )


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, (ProtectedError, RestrictedError)):
        exc = _still_used(exc)
    if isinstance(exc, ApplicationError):
        return Response(exc.as_dict(), status=exc.status)
    if isinstance(exc, DjangoValidationError):
        fields = _django_validation_fields(exc)
        return Response({"error": "Invalid input.", "fields": fields}, status=400)
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, drf_exceptions.ValidationError):
        detail = response.data
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = {"error": "Invalid input.", "fields": fields}
    elif isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": str(response.data["detail"]), "fields": {}}
    return response
