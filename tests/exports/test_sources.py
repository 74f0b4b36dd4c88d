"""Reading an export's rows: on PostgreSQL the chunks are read ahead in threads of their own while the
current one is written (EXPORTS_PREFETCH; database-rendered span lines by EXPORTS_READERS connections
in one snapshot), and the file is the same as when read in line."""

from __future__ import annotations

import json
import threading

import pytest

from apps.exports.span_source import SpanSource
from apps.reviews.services.comments import comment_add
from tests import factories
from tests.exports.conftest import read_file, run


def _recording(monkeypatch) -> list[int]:
    """The thread that built each chunk's batch."""
    readers: list[int] = []
    build = SpanSource._batch

    def recording(self, rows, **kwargs):
        readers.append(threading.get_ident())
        return build(self, rows, **kwargs)

    monkeypatch.setattr(SpanSource, "_batch", recording)
    return readers


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the reading threads' connections see committed rows only
@pytest.mark.parametrize("format", ["jsonl", "parquet", "csv"])
def test_on_postgresql_chunks_are_read_ahead_in_threads_into_the_same_file(project, settings, monkeypatch, format):
    trace = factories.TraceFactory(project=project)
    spans = factories.SpanFactory.create_batch(11, trace=trace)
    comment_add(span=spans[4], text="in the second chunk")
    settings.EXPORTS_CHUNK_SIZE = 3
    readers = _recording(monkeypatch)
    settings.EXPORTS_PREFETCH = True
    ahead = run(project, format=format)
    sample = 1 if format == "parquet" else 0  # Parquet's schema comes from a sample read first, in line
    built = [r for r in readers if r != threading.get_ident()]
    assert len(built) == 4 and len(readers) == 4 + sample, "every chunk built in a reading thread"
    # Database-rendered lines: chunks alternate between two connections; Parquet reads with one (its
    # job's thread parses a chunk while the reader fetches the next, and two held more memory).
    assert len(set(built)) == (1 if format == "parquet" else 2)
    readers.clear()
    settings.EXPORTS_PREFETCH = False
    in_line = run(project, format=format)
    assert readers.count(threading.get_ident()) == 4 + sample
    assert ahead.status == in_line.status == "succeeded" and ahead.row_count == 11
    assert read_file(ahead) == read_file(in_line)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_an_admin_selection_is_read_in_parallel_too(project, settings):
    trace = factories.TraceFactory(project=project)
    spans = factories.SpanFactory.create_batch(9, trace=trace)
    settings.EXPORTS_CHUNK_SIZE = 2
    chosen = [spans[0].pk, spans[3].pk, spans[4].pk, spans[8].pk, spans[6].pk]
    job = run(project, selected_pks=chosen)
    assert job.status == "succeeded", job.error
    lines = read_file(job).decode().splitlines()
    assert [json.loads(line)["span_id"] for line in lines] == [
        s.span_id for s in sorted((s for s in spans if s.pk in chosen), key=lambda s: s.pk)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_chunk_that_fails_in_a_reading_thread_fails_the_job(project, settings, monkeypatch):
    trace = factories.TraceFactory(project=project)
    factories.SpanFactory.create_batch(9, trace=trace)
    settings.EXPORTS_CHUNK_SIZE = 2
    build = SpanSource._batch
    built = []

    def failing(self, rows, **kwargs):
        built.append(len(rows))
        if len(built) == 3:  # the third chunk, in one of the two rendering threads
            raise RuntimeError("the database went away")
        return build(self, rows, **kwargs)

    monkeypatch.setattr(SpanSource, "_batch", failing)
    job = run(project)
    assert job.status == "failed" and "the database went away" in job.error
    assert not job.byte_size
