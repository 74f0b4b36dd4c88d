"""SQL expressions the export readers select: JSON columns as their text, timestamps as ISO 8601
text, and (PostgreSQL) a whole span rendered as one JSON line by the database."""

from __future__ import annotations

from django.db.models import F, Func, TextField, Value
from django.db.models.functions import Cast


def raw(name: str):
    """A JSON column as its JSON text, so the fast formats copy it without parsing."""
    return Cast(name, TextField())


class IsoTimestamp(Func):
    """A UTC timestamp as ISO 8601 text, formatted by the database (Python datetime parsing is slow)."""

    output_field = TextField()

    def as_postgresql(self, compiler, connection, **extra):
        template = """to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler, connection, **extra):
        # Django stores UTC as "YYYY-MM-DD HH:MM:SS[.ffffff]" text on SQLite.
        return self.as_sql(compiler, connection, template="(replace(%(expressions)s, ' ', 'T') || '+00:00')", **extra)


class JSONPlainText(Func):
    """PostgreSQL: a jsonb value as plain text: a JSON string as the string itself, else its JSON text."""

    output_field = TextField()
    template = (
        "CASE jsonb_typeof(%(expressions)s) WHEN 'string' THEN %(expressions)s #>> '{}' ELSE %(expressions)s::text END"
    )


class JSONLine(Func):
    """PostgreSQL: one JSON line, `json_build_object('name', expr, …)` over (name, kind, expr, nullable)
    fields with `suffix` in place of its closing brace: the writer's encoding of the columns that
    follow when they hold their defaults (no annotations), a brace and the newline. The database does
    the work COPY's `row_to_json` does; Python only joins the lines."""

    function = "json_build_object"
    output_field = TextField()

    def __init__(self, fields, *, text_columns=(), suffix: str = "}\n"):
        pairs = []
        for name, kind, expr, _nullable in fields:
            if kind == "rawjson" and name in text_columns:
                expr = JSONPlainText(F(name))
            elif kind in ("rawjson", "timestamp"):
                # The jsonb column itself, embedded as JSON (not its text); JSON renders timestamptz
                # as ISO 8601 in the session zone (UTC).
                expr = F(name)
            pairs += [Value(name), F(expr) if isinstance(expr, str) else expr]
        super().__init__(*pairs)
        self.suffix = suffix

    def as_sql(self, compiler, connection, **extra):
        sql, params = super().as_sql(compiler, connection, **extra)
        return f"(left(({sql})::text, -1) || %s)", (*params, self.suffix)
