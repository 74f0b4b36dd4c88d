"""The OpenAPI schema's error answers, declared in one place.

Every error the API answers has one body, `{"error": …, "fields": {…}}` (`apps.core.exceptions`).
`AssayAutoSchema` adds to each operation the error statuses any operation of its kind can answer:

- 400 for every operation: a body, query string or path id the input layer refuses names its field;
- 401, 403 and 429 for every operation that authenticates (a missing or bad key, a key without the
  scope or a user without the role, too many authentication failures or calls: `Retry-After`);
- 404 for every operation that authenticates or has a path parameter (another project's objects and
  unknown `project` slugs are not found, never forbidden);
- 413 and 415 for every operation that reads a body (over the size limit, not JSON).

Statuses only some operations answer (409 conflicts, 502/503 of the LLM endpoint, 202 jobs) are
declared on the view with `extend_schema(responses={…: ERROR})`; declared ones are never overwritten.
"""

from __future__ import annotations

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, in a sentence.")
    fields = serializers.DictField(
        help_text="Each field at fault (a body key, query parameter or path part) and its messages.",
    )

    class Meta:
        ref_name = "Error"


def error(code: int, description: str = "") -> OpenApiResponse:
    """An error answer with the one error body, for `extend_schema(responses={409: error(409)})`."""
    return OpenApiResponse(ErrorSerializer, description=description or ERROR_DESCRIPTIONS.get(str(code), ""))


def pagination_parameters(paginator_class) -> list[OpenApiParameter]:
    """The paginator's query parameters, for a view that paginates by hand (no list action)."""
    return [
        OpenApiParameter(p["name"], p["schema"], description=p.get("description", ""))
        for p in paginator_class().get_schema_operation_parameters(None)
    ]


def paginated(paginator_class, item: dict | None = None, description: str = "") -> OpenApiResponse:
    """A page of `paginator_class` whose results are `item` schemas (default: objects)."""
    items = {"type": "array", "items": item or {"type": "object", "additionalProperties": {}}}
    return OpenApiResponse(paginator_class().get_paginated_response_schema(items), description=description)


def llm_errors() -> dict[int, OpenApiResponse]:
    """What an operation that calls the configured LLM endpoint adds."""
    return {502: error(502), 503: error(503)}


ERROR_DESCRIPTIONS = {
    "400": "Invalid input: `fields` names each field at fault.",
    "401": "No credentials, or an unknown, revoked or expired key.",
    "403": "The key lacks the scope, or the user the role in the object's project, this needs.",
    "404": "No such object among the caller's projects (another project's objects are not found either).",
    "413": "The body, or a batch in it, is over the limit.",
    "415": "The body is not in a media type this operation reads.",
    "429": "Too many requests or failed authentications from this key or address; retry after `Retry-After` seconds.",
    "409": "The object changed meanwhile or is in a state that refuses this.",
    "502": "The configured LLM endpoint failed or answered something unusable.",
    "503": "No LLM endpoint is configured (LLM_BASE_URL, LLM_MODEL).",
}
BODY_METHODS = {"POST", "PUT", "PATCH"}


def source_may_be_null(field: serializers.Field) -> bool:
    """Whether a serializer field's source crosses a nullable model column or relation.

    DRF answers null as soon as any step of a dotted source is None, but only ModelSerializer's own
    fields copy `null=True` into `allow_null`: a declared `SlugRelatedField(read_only=True)` over a
    nullable foreign key, or `CharField(source="version.number")`, does not.
    """
    parent = getattr(field, "parent", None)
    model = getattr(getattr(parent, "Meta", None), "model", None)
    if model is None or field.source == "*" or not getattr(field, "source_attrs", None):
        return False
    for attr in field.source_attrs:
        try:
            model_field = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return False
        if model_field.null:
            return True
        if not model_field.is_relation or model_field.related_model is None:
            return False
        model = model_field.related_model
    return False


class AssayAutoSchema(AutoSchema):
    def _authenticates(self) -> bool:
        return not all(isinstance(p, AllowAny) for p in self.view.get_permissions())

    def _reads_body(self) -> bool:
        # drf-spectacular documents a request body only for these methods.
        return self.method in BODY_METHODS

    def error_statuses(self) -> list[str]:
        codes = ["400"]
        authenticates = self._authenticates()
        if authenticates:
            codes += ["401", "403"]
        if authenticates or "{" in self.path:
            codes.append("404")
        if self._reads_body():
            codes += ["413", "415"]
        if authenticates:
            codes.append("429")
        return codes

    def _error_response(self, code: str, description: str) -> dict:
        response = self._get_response_for_code(ErrorSerializer, code)
        response["description"] = description
        if code == "429":
            response["headers"] = {
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "Seconds to wait before retrying.",
                }
            }
        elif code == "401":
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        return response

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if direction == "response" and not meta.get("nullable") and source_may_be_null(field):
            meta["nullable"] = True
        return meta

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code in self.error_statuses():
            if code not in responses:
                responses[code] = self._error_response(code, ERROR_DESCRIPTIONS[code])
        for code, response in responses.items():
            # An error declared on a view without a description gets the standard one.
            if code in ERROR_DESCRIPTIONS and not response.get("description"):
                response["description"] = ERROR_DESCRIPTIONS[code]
        return dict(sorted(responses.items()))
