"""An index on `traces_span_key (span_pk)` (PostgreSQL; SQLite has no key table).

Retention's partition drop deletes a month's key rows by span id: the month's ids are one range of
this index, read in order against the month's ids (a merge join), where probing the primary key
(project_id, span_id) once a span cost 1.3–1.9 s for 417k spans (0.43 s this way, docs/performance.md).
Span ids come from a sequence, so ingest adds to the right-hand end of this index.
"""

from django.db import migrations


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("CREATE INDEX IF NOT EXISTS traces_span_key_span_pk ON traces_span_key (span_pk)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS traces_span_key_span_pk")


class Migration(migrations.Migration):
    dependencies = [("traces", "0004_span_partitions")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
