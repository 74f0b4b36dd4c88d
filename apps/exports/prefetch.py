"""Reading an export's batches, on PostgreSQL one chunk ahead in a thread with its own database connection."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from apps.core.db_router import replica_alias, replica_iter, replica_reads

from .formats.base import Batch

_DONE = object()


def prefetched(make_batches: Callable[[], Iterator[Batch]], *, depth: int = 2) -> Iterator[Batch]:
    """Read batches in a thread with its own database connection (and server-side cursor), at most
    `depth` ahead, so the database produces the next chunk while this thread encodes the current
    one. Only for committed data: the reader's connection does not see an open transaction's rows."""
    channel: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                channel.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            # Inside a transaction the server-side cursor is not WITH HOLD: PostgreSQL streams rows as
            # it produces them instead of materialising the whole result before the first fetch.
            # This thread's connection is its own, so the job's progress writes stay visible. It reads
            # the replica when there is one (apps/core/db_router.py); it never writes.
            with replica_reads(), transaction.atomic(using=replica_alias()):
                for batch in make_batches():
                    if not put(batch):
                        return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            put(exc)
        finally:
            connections.close_all()  # this thread's connections only

    thread = threading.Thread(target=reader, name="export-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = channel.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=60)


def job_batches(source, writer) -> Iterator[Batch]:
    """A job's batches for its writer. On PostgreSQL the reading runs one chunk ahead in a thread
    (EXPORTS_PREFETCH): the server builds the next chunk while this process encodes the current one.
    A JSONL or Parquet export of spans asks the database to render each row as a JSON line."""
    from .parallel_read import parallel_batches
    from .span_source import SpanSource

    ahead = getattr(settings, "EXPORTS_PREFETCH", True)
    ahead = ahead and connection.vendor == "postgresql" and not connection.in_atomic_block
    if writer.accepts_json_lines and isinstance(source, SpanSource):
        rendering = writer.lines_options(source)  # Parquet decides its schema from a sample here
        readers = min(int(getattr(settings, "EXPORTS_READERS", 2)), writer.max_readers)
        # The database renders the lines: use more than one backend of the primary. With a read replica
        # the one reader reads the replica instead, which takes the export off the primary altogether.
        if ahead and readers > 1 and replica_alias() == DEFAULT_DB_ALIAS:
            keys, render = source.line_chunks(**rendering)
            # One chunk waiting per reader: with two readers, two chunks are ready and two in the making.
            return parallel_batches(keys, lambda key: writer.prepare(render(key)), workers=readers, depth=1)

        def read():
            return source.batches(json_lines=True, **rendering)
    else:
        read = source.batches
    # The reading steps read the replica when there is one; the progress writes between them do not.
    return prefetched(read) if ahead else replica_iter(read())
