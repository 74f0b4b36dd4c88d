"""SQL expressions the export readers select: JSON columns as their text, timestamps as ISO 8601
text, and (PostgreSQL) a whole span rendered as one JSON line by the database."""

from __future__ import annotations

from django.db.models import F, Func, TextField
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


def json_lines_sql(qs, fields, *, text_columns=()) -> tuple[str, list]:
    """PostgreSQL: the statement reading `qs` as (pk, one JSON object text of `fields`) rows in pk order,
    over (name, kind, expr, nullable) fields. `row_to_json` renders the object, as COPY's baseline does:
    `json_build_object` over the same columns (and trimming its brace with `left()`) cost the database
    about 1.6 times as much (docs/performance.md). The queryset's own statement (filters, joins) is the
    inner query; its columns are renamed to the fields' names by the derived table's column list."""
    exprs = []
    for name, kind, expr, _nullable in fields:
        if kind == "rawjson" and name in text_columns:
            expr = JSONPlainText(F(name))
        elif kind in ("rawjson", "timestamp"):
            # The jsonb column itself, embedded as JSON (not its text); JSON renders timestamptz
            # as ISO 8601 in the session zone (UTC).
            expr = F(name)
        exprs.append(F(expr) if isinstance(expr, str) else expr)
    sql, params = qs.order_by().values_list("pk", *exprs).query.sql_with_params()
    names = [f'"{name}"' for name, *_ in fields]
    return (
        f'SELECT t."_pk", row_to_json(r)::text FROM ({sql}) AS t("_pk", {", ".join(names)}) '
        f"CROSS JOIN LATERAL (SELECT {', '.join('t.' + n for n in names)}) AS r "
        'ORDER BY t."_pk"'
    ), list(params)
