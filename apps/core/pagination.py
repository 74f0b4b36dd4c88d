"""Cursor pagination and the one `page_size` rule: a whole number from 1 to the paginator's maximum,
anything else answered 400 naming `page_size` (never silently clamped); an unreadable cursor is a 400
naming `cursor`, as on the trace and span lists."""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


def page_size_from_request(request, *, param: str, default: int, maximum: int) -> int:
    raw = request.query_params.get(param)
    if raw in (None, ""):
        return default
    try:
        size = int(raw)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise ValidationError({param: [f"A whole number from 1 to {maximum}."]})
    return size


def page_size_schema_parameter(*, param: str, default: int, maximum: int) -> dict:
    return {
        "name": param,
        "required": False,
        "in": "query",
        "description": f"Results per page (default {default}, at most {maximum}).",
        "schema": {"type": "integer", "minimum": 1, "maximum": maximum, "default": default},
    }


class IdCursorPagination(CursorPagination):
    """Stable cursor pagination by id, newest (highest id) first; views override `ordering` where another key fits."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        return page_size_from_request(
            request, param=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
        )

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except NotFound:  # DRF answers 404 for a cursor it cannot read; it is a bad parameter
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]})

    def get_schema_operation_parameters(self, view):
        cursor = {
            "name": self.cursor_query_param,
            "required": False,
            "in": "query",
            "description": "The `next` (or `previous`) link's cursor.",
            "schema": {"type": "string"},
        }
        return [
            cursor,
            page_size_schema_parameter(
                param=self.page_size_query_param, default=self.page_size, maximum=self.max_page_size
            ),
        ]
