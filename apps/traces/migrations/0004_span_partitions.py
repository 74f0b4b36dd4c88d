"""PostgreSQL: traces_span becomes a table partitioned by month of start_time. SQLite: nothing changes.

Django's state is unchanged (the same Span model on both databases). On PostgreSQL:

- every unique constraint of a partitioned table must hold the partition key, so the key is a unique
  index on (id, start_time) and "one span_id per project" moves to `traces_span_key`, kept by triggers
  (an insert of a taken span_id raises unique_violation, as the old constraint did);
- foreign keys *to* spans cannot reference (id) alone, so they are dropped (Django still cascades
  deletes; retention deletes children itself), and the span -> trace key is dropped too (ingest
  always writes a trace it just upserted; it saved a check per span on ingest and per trace on delete);
- a default partition takes spans without a start time and months not created yet;
  `apps.traces.partitions` creates months ahead (beat) and lists them.
"""

from datetime import UTC, datetime

from django.db import migrations

KEY_DDL = """
CREATE TABLE traces_span_key (
    project_id bigint NOT NULL,
    span_id varchar(128) NOT NULL,
    span_pk bigint NOT NULL,
    PRIMARY KEY (project_id, span_id)
);
CREATE FUNCTION traces_span_key_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO traces_span_key (project_id, span_id, span_pk) VALUES (NEW.project_id, NEW.span_id, NEW.id)
    ON CONFLICT (project_id, span_id) DO NOTHING;
    IF NOT FOUND AND NOT EXISTS (
        SELECT 1 FROM traces_span_key
        WHERE project_id = NEW.project_id AND span_id = NEW.span_id AND span_pk = NEW.id
    ) THEN
        RAISE unique_violation USING
            MESSAGE = 'duplicate key value violates unique constraint "uniq_span_per_project"',
            DETAIL = format('Key (project_id, span_id)=(%s, %s) already exists.', NEW.project_id, NEW.span_id),
            CONSTRAINT = 'uniq_span_per_project', TABLE = 'traces_span';
    END IF;
    RETURN NEW;
END $$;
CREATE FUNCTION traces_span_key_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An UPDATE that moves a span to another partition is a delete and an insert: keep its key.
    DELETE FROM traces_span_key
    WHERE project_id = OLD.project_id AND span_id = OLD.span_id AND span_pk = OLD.id
        AND NOT EXISTS (SELECT 1 FROM traces_span WHERE id = OLD.id);
    RETURN NULL;
END $$;
CREATE FUNCTION traces_span_key_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE traces_span_key;
    RETURN NULL;
END $$;
"""

TRIGGERS = """
CREATE TRIGGER traces_span_key_insert BEFORE INSERT ON traces_span
    FOR EACH ROW EXECUTE FUNCTION traces_span_key_insert();
CREATE TRIGGER traces_span_key_delete AFTER DELETE ON traces_span
    FOR EACH ROW EXECUTE FUNCTION traces_span_key_delete();
CREATE TRIGGER traces_span_key_truncate AFTER TRUNCATE ON traces_span
    FOR EACH STATEMENT EXECUTE FUNCTION traces_span_key_truncate();
"""


def _month(moment: datetime) -> datetime:
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(moment: datetime) -> datetime:
    return moment.replace(year=moment.year + 1, month=1) if moment.month == 12 else moment.replace(month=moment.month + 1)


def _months(cursor) -> list[datetime]:
    """Every month the stored spans start in, through three months from now."""
    cursor.execute("SELECT min(start_time) FROM traces_span_old")
    (oldest,) = cursor.fetchone()
    now = datetime.now(UTC)
    month = _month(oldest.astimezone(UTC) if oldest else now)
    last = _month(now)
    for _ in range(3):
        last = _next_month(last)
    months = []
    while month <= last:
        months.append(month)
        month = _next_month(month)
    return months


def partition(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    Span = apps.get_model("traces", "Span")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("ALTER TABLE traces_span RENAME TO traces_span_old")
        cursor.execute(
            "CREATE TABLE traces_span (LIKE traces_span_old INCLUDING DEFAULTS INCLUDING IDENTITY "
            "INCLUDING STORAGE INCLUDING COMPRESSION) PARTITION BY RANGE (start_time)"
        )
        cursor.execute("CREATE TABLE traces_span_default PARTITION OF traces_span DEFAULT")
        for month in _months(cursor):
            cursor.execute(
                f"CREATE TABLE traces_span_p{month:%Y_%m} PARTITION OF traces_span "
                f"FOR VALUES FROM ('{month.isoformat()}') TO ('{_next_month(month).isoformat()}')"
            )
        columns = ", ".join(f.column for f in Span._meta.concrete_fields)
        cursor.execute(f"INSERT INTO traces_span ({columns}) SELECT {columns} FROM traces_span_old")
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('traces_span', 'id'), "
            "(SELECT coalesce(max(id), 0) + 1 FROM traces_span), false)"
        )
        # CASCADE: the foreign keys of other tables that referenced the old table go with it.
        cursor.execute("DROP TABLE traces_span_old CASCADE")
        cursor.execute("CREATE UNIQUE INDEX traces_span_pkey ON traces_span (id, start_time)")
        for index in Span._meta.indexes:
            schema_editor.execute(index.create_sql(Span, schema_editor))
        cursor.execute("CREATE INDEX span_project_span_id ON traces_span (project_id, span_id)")
        cursor.execute(KEY_DDL)
        cursor.execute(
            "INSERT INTO traces_span_key (project_id, span_id, span_pk) SELECT project_id, span_id, id FROM traces_span"
        )
        cursor.execute(TRIGGERS)
        cursor.execute("ANALYZE traces_span")


class Migration(migrations.Migration):
    # Foreign keys to spans are created by these apps' migrations; they must exist before they are dropped.
    dependencies = [
        ("traces", "0003_trace_origin"),
        ("queues", "0004_submission_timing"),
        ("reviews", "0002_score_scorer_version"),
        ("experiments", "0003_compare_cache"),
        ("datasets", "0001_initial"),
    ]

    operations = [migrations.RunPython(partition, migrations.RunPython.noop, elidable=False)]
