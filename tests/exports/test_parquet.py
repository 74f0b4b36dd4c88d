"""Typed Parquet: real column types, nested values native where their shape is one type, plain text
otherwise; read back without clean-up by pyarrow, pandas, polars, DuckDB and Hugging Face datasets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests import factories
from tests.exports.conftest import as_buffer, read_file, run

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def parquet_path(project, annotated_spans, tmp_path):
    job = run(project, format="parquet")
    assert job.status == "succeeded", job.error
    path = tmp_path / "spans.parquet"
    path.write_bytes(read_file(job))
    return path


def test_columns_have_real_types(parquet_path):
    schema = pq.read_schema(parquet_path)
    assert schema.field("start_time").type == pa.timestamp("us", tz="UTC")
    assert schema.field("duration_ms").type == pa.float64()
    assert schema.field("total_tokens").type == pa.int64()
    assert schema.field("is_error").type == pa.bool_()
    assert schema.field("tags").type == pa.list_(pa.string())
    assert schema.field("score.helpful").type == pa.float64()
    # Every span's output is a {role, content} object: a struct. metadata objects differ in keys: merged.
    assert schema.field("output").type == pa.struct([("role", pa.string()), ("content", pa.string())])
    metadata = schema.field("metadata").type
    assert pa.types.is_struct(metadata) and {"customer", "region", "note"} <= {f.name for f in metadata}
    scores = schema.field("scores").type
    assert pa.types.is_list(scores) and scores.value_type.field("created_at").type.tz == "UTC"
    # input is a list of messages on two spans and a string on the third: one column of plain text.
    assert schema.field("input").type == pa.string()


def test_values_need_no_json_loads(parquet_path):
    rows = {r["span_id"]: r for r in pq.read_table(parquet_path).to_pylist()}
    first, second, third = rows["s-1"], rows["s-2"], rows["s-3"]
    assert first["metadata"]["customer"] == {"tier": "gold"} and first["metadata"]["region"] == "eu"
    assert first["output"] == {"role": "assistant", "content": "30 days."}
    assert first["tags"] == ["golden"]
    assert first["score.helpful"] == pytest.approx(0.8) and second["score.helpful"] is None
    assert first["latest_comment"] == "Checked against policy"
    assert first["scores"][0]["config"] == "helpful" and first["scores"][0]["author"] == "rita"
    # Text columns: a string value is the string itself, anything else its JSON text.
    assert third["input"] == "plain text?"
    assert json.loads(first["input"]) == [{"role": "user", "content": "What is the refund window?"}]
    assert first["expected"] == "30 days from delivery."
    assert json.loads(second["expected"]) == {"role": "assistant", "content": "Refunds take 30 days."}
    assert third["expected"] is None
    assert first["corrections"][-1]["value"] == "30 days from delivery."


def test_pandas_reads_it(parquet_path):
    pd = pytest.importorskip("pandas")
    frame = pd.read_parquet(parquet_path).set_index("span_id")
    assert str(frame["start_time"].dtype).startswith("datetime64")
    assert frame.loc["s-1", "metadata"]["region"] == "eu"
    assert list(frame.loc["s-1", "tags"]) == ["golden"]
    assert frame.loc["s-1", "score.helpful"] == pytest.approx(0.8)


def test_polars_reads_it(parquet_path):
    pl = pytest.importorskip("polars", reason="polars is in the dev extra; not installed here")
    frame = pl.read_parquet(parquet_path)
    first = frame.filter(pl.col("span_id") == "s-1")
    assert first["metadata"].struct.field("region").to_list() == ["eu"]
    assert first["tags"].to_list() == [["golden"]]
    assert frame.schema["start_time"] == pl.Datetime("us", "UTC")


def test_duckdb_reads_it(parquet_path):
    duckdb = pytest.importorskip("duckdb", reason="duckdb is in the dev extra; not installed here")
    con = duckdb.connect()
    row = con.execute(
        'SELECT metadata.customer.tier, tags[1], "score.helpful", output.content FROM read_parquet(?) '
        "WHERE span_id = 's-1'",
        [str(parquet_path)],
    ).fetchone()
    assert row == ("gold", "golden", pytest.approx(0.8), "30 days.")


def test_hugging_face_datasets_reads_it(parquet_path, tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets is in the dev extra; not installed here")
    loaded = datasets.Dataset.from_parquet(str(parquet_path), cache_dir=str(tmp_path / "hf"))
    first = next(r for r in loaded if r["span_id"] == "s-1")
    assert first["metadata"]["region"] == "eu" and first["tags"] == ["golden"]
    assert first["scores"][0]["config"] == "helpful"


def test_a_later_batch_of_another_shape_restarts_with_wider_types(project, settings):
    """Chunks of 2: the schema is decided on s-0/s-1, s-2 brings a new metadata key and a number where
    input had a string. The file is written again: metadata widened, input as text."""
    settings.EXPORTS_CHUNK_SIZE = 2
    trace = factories.TraceFactory(project=project)
    for i, (span_input, metadata) in enumerate(
        [
            ({"q": "a"}, {"region": "eu"}),
            ({"q": "b"}, {"region": "us"}),
            ({"q": 5}, {"region": "eu", "tier": 2}),
        ]
    ):
        factories.SpanFactory(trace=trace, span_id=f"s-{i}", input=span_input, metadata=metadata)
    job = run(project, format="parquet")
    assert job.status == "succeeded", job.error
    table = pq.read_table(as_buffer(job))
    assert table.num_rows == 3
    assert table.schema.field("metadata").type == pa.struct([("region", pa.string()), ("tier", pa.int64())])
    rows = {r["span_id"]: r for r in table.to_pylist()}
    assert rows["s-2"]["metadata"] == {"region": "eu", "tier": 2} and rows["s-0"]["metadata"]["tier"] is None
    assert table.schema.field("input").type == pa.string()
    assert json.loads(rows["s-2"]["input"]) == {"q": 5}


def test_empty_export_is_a_valid_file(project):
    job = run(project, format="parquet")
    assert job.status == "succeeded", job.error
    table = pq.read_table(as_buffer(job))
    assert table.num_rows == 0 and table.schema.field("start_time").type.tz == "UTC"


def test_traces_and_scores_as_parquet(project, annotated_spans):
    traces = pq.read_table(as_buffer(run(project, source="traces", format="parquet")))
    assert traces.schema.field("start_time").type.tz == "UTC" and "spans" in traces.column_names
    assert traces.to_pylist()[0]["score.helpful"] == pytest.approx(0.8)
    scores = pq.read_table(as_buffer(run(project, source="scores", format="parquet"))).to_pylist()
    assert [(s["span_id"], s["config"], s["value"], s["reviewer"]) for s in scores] == [("s-1", "helpful", 0.8, "rita")]


WRITER_ONLY = """
import io, sys
import django
django.setup()
from apps.exports.formats.base import Batch, Column, SourceMeta
from apps.exports.formats.parquet import ParquetWriter
meta = SourceMeta(columns=(Column("id", "str"), Column("at", "timestamp"), Column("input", "rawjson"),
                           Column("tags", "rawjson"), Column("n", "float")), id_column="id")
out = io.BytesIO()
writer = ParquetWriter(out, meta)
writer.write_batch(Batch(rows=[("a", "2026-11-01T12:00:00+00:00", '{"q": "x"}', '["t"]', 1.5)]))
writer.close()
assert out.getvalue()[:4] == b"PAR1"
print("pandas" in sys.modules)
"""


def test_writing_parquet_never_imports_pandas():
    """pyarrow.array() imports pandas when it is installed (~36 MB of worker memory); the writer avoids it."""
    pytest.importorskip("pandas", reason="only meaningful where pandas is installed")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings")}
    out = subprocess.run(
        [sys.executable, "-c", WRITER_ONLY], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_column_that_changes_shape_inside_a_later_batch_becomes_text(project, settings):
    settings.EXPORTS_CHUNK_SIZE = 2
    trace = factories.TraceFactory(project=project)
    for i, span_input in enumerate([{"q": "a"}, {"q": "b"}, "just text", {"q": "c"}]):
        factories.SpanFactory(trace=trace, span_id=f"s-{i}", input=span_input, metadata={"region": "eu"})
    job = run(project, format="parquet")
    assert job.status == "succeeded", job.error
    table = pq.read_table(as_buffer(job))
    assert table.schema.field("input").type == pa.string()
    assert table.schema.field("metadata").type == pa.struct([("region", pa.string())])  # untouched
    rows = {r["span_id"]: r["input"] for r in table.to_pylist()}
    assert rows["s-2"] == "just text" and json.loads(rows["s-3"]) == {"q": "c"}


def test_dataset_version_as_parquet(project):
    from apps.datasets.services.datasets import dataset_create
    from apps.datasets.services.records import dataset_records_upsert

    dataset = dataset_create(project=project, name="refunds")
    dataset_records_upsert(
        dataset=dataset,
        records=[
            {
                "record_id": "r1",
                "input": {"question": "Refund window?"},
                "expected": "30 days",
                "splits": ["train"],
                "tags": ["refunds"],
            },
            {"record_id": "r2", "input": {"question": "Hi"}, "expected": "Hello", "splits": ["test", "hard"]},
        ],
    )
    job = run(project, source="dataset", format="parquet", dataset=dataset)
    assert job.status == "succeeded", job.error
    table = pq.read_table(as_buffer(job))
    assert table.schema.field("splits").type == pa.list_(pa.string())
    assert table.schema.field("input").type == pa.struct([("question", pa.string())])
    assert table.schema.field("expected").type == pa.string()
    rows = {r["record_id"]: r for r in table.to_pylist()}
    assert rows["r2"]["splits"] == ["test", "hard"] and rows["r1"]["tags"] == ["refunds"]
    assert rows["r1"]["expected"] == "30 days" and rows["r1"]["input"] == {"question": "Refund window?"}
