"""Django's error pages, answered as the API's JSON error body on API paths.

A URL the router does not match (`/api/v1/datasets/abc/` for an integer id) is a 404 of the API
like any other: `{"error": …, "fields": {}}`, not Django's HTML page. Other paths keep the HTML page.
"""

from __future__ import annotations

from django.http import JsonResponse
from django.views import defaults

API_PREFIXES = ("/api/", "/v1/")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def not_found(request, exception=None):
    if is_api_path(request.path):
        return JsonResponse({"error": "Not found.", "fields": {}}, status=404)
    return defaults.page_not_found(request, exception)
