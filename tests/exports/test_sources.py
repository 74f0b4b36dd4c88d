"""Reading an export's rows: on PostgreSQL the next chunk is read in a thread of its own while the
current one is written (EXPORTS_PREFETCH), and the file is the same as when read in line."""

from __future__ import annotations

import threading

import pytest

from apps.exports.sources import SpanSource
from tests import factories
from tests.exports.conftest import read_file, run


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)  # the reading thread's connection sees committed rows only
def test_on_postgresql_chunks_are_read_ahead_in_a_thread_into_the_same_file(project, settings, monkeypatch):
    trace = factories.TraceFactory(project=project)
    factories.SpanFactory.create_batch(11, trace=trace)
    settings.EXPORTS_CHUNK_SIZE = 3
    readers: list[int] = []
    batches = SpanSource.batches

    def recording(self, **kwargs):
        for batch in batches(self, **kwargs):
            readers.append(threading.get_ident())
            yield batch

    monkeypatch.setattr(SpanSource, "batches", recording)
    settings.EXPORTS_PREFETCH = True
    ahead = run(project)
    assert len(readers) == 4 and threading.get_ident() not in readers
    readers.clear()
    settings.EXPORTS_PREFETCH = False
    in_line = run(project)
    assert readers == [threading.get_ident()] * 4
    assert ahead.status == in_line.status == "succeeded" and ahead.row_count == 11
    assert read_file(ahead) == read_file(in_line)
