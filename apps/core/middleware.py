"""Refuse what no view can handle, before any view runs: U+0000 in the path, a header or the query
string (PostgreSQL cannot compare text with it) and bodies over the size limit (a JSON 413
everywhere, not Django's HTML 400)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse, JsonResponse

JSON_PREFIXES = ("/api/", "/v1/")


def _limit(path: str) -> int:
    if path.startswith(("/api/v1/ingest/", "/v1/traces")):
        return settings.INGEST_MAX_BODY_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def _answer(request, status: int, message: str, fields: dict) -> HttpResponse:
    if request.path.startswith(JSON_PREFIXES):
        return JsonResponse({"error": message, "fields": fields}, status=status)
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _too_large(request, limit: int) -> HttpResponse:
    return _answer(
        request,
        413,
        f"The body is over the {limit} byte limit; send smaller batches.",
        {"body": [f"At most {limit} bytes."]},
    )


class HostileRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            return _answer(request, 404, "Not found.", {})
        # HTTP servers refuse NUL in headers; behind one that does not, a key or cookie lookup would 500.
        headers = sorted(
            k.removeprefix("HTTP_")
            for k, v in request.META.items()
            if k.startswith("HTTP_") and isinstance(v, str) and "\x00" in v
        )
        if headers:
            return _answer(
                request,
                400,
                "Headers may not contain U+0000.",
                {name: ["Contains a NUL character (U+0000)."] for name in headers},
            )
        try:
            params = request.GET
            bad = sorted(
                {
                    key.replace("\x00", "\\u0000")
                    for key, values in params.lists()
                    if "\x00" in key or any("\x00" in v for v in values)
                }
            )
        except TooManyFieldsSent:
            return _answer(request, 400, "Too many query parameters.", {"query": ["Too many parameters."]})
        if bad:
            return _answer(
                request,
                400,
                "Query parameters may not contain U+0000.",
                {key: ["Contains a NUL character (U+0000)."] for key in bad},
            )
        limit = _limit(request.path)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _answer(request, 400, "Bad Content-Length.", {"Content-Length": ["Expected a number."]})
        if length > limit:
            return _too_large(request, limit)
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, RequestDataTooBig):
            return _too_large(request, _limit(request.path))
        return None
