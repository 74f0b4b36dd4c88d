"""Reading a chunked export with several database connections at once (PostgreSQL).

When the database renders the rows (span JSON lines), an export is bounded by one PostgreSQL
backend, while COPY uses parallel workers. Here one thread streams only the chunks' keys (a
pk-only cursor, cheap) and `workers` threads each render every `workers`-th chunk over their own
connection; the consumer takes the chunks back in order. Every thread works in one snapshot: the
key reader exports it (`pg_export_snapshot`) and the renderers import it, so the file is what one
query would have read. Memory is bounded: at most `depth` chunks wait per renderer.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connections, transaction

from .formats.base import Batch

_DONE = object()
WAIT = 0.2  # seconds between checks of the stop flag


class _Pipe:
    """Bounded queues between threads that give up when `stop` is set."""

    def __init__(self, stop: threading.Event, depth: int):
        self.stop = stop
        self.channel: queue.Queue = queue.Queue(maxsize=depth)

    def put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.channel.put(item, timeout=WAIT)
                return True
            except queue.Full:
                continue
        return False

    def get(self):
        while not self.stop.is_set():
            try:
                return self.channel.get(timeout=WAIT)
            except queue.Empty:
                continue
        return _DONE


def _repeatable_read(cursor) -> None:
    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")


def parallel_batches(
    keys: Callable[[], Iterator[Any]],
    render: Callable[[Any], Batch],
    *,
    workers: int = 2,
    depth: int = 2,
    using: str = "default",
) -> Iterator[Batch]:
    """The batches `render(key)` for every key of `keys()`, in order, rendered by `workers` threads."""
    stop = threading.Event()
    failures: list[BaseException] = []
    inboxes = [_Pipe(stop, depth) for _ in range(workers)]
    outboxes = [_Pipe(stop, depth) for _ in range(workers)]
    snapshot: dict[str, str] = {}
    exported, imported = threading.Event(), threading.Semaphore(0)

    def failed(exc: BaseException) -> None:
        failures.append(exc)
        stop.set()

    def key_reader() -> None:
        try:
            with transaction.atomic(using=using):
                with connections[using].cursor() as cursor:
                    _repeatable_read(cursor)
                    cursor.execute("SELECT pg_export_snapshot()")
                    snapshot["id"] = cursor.fetchone()[0]
                exported.set()
                for i, key in enumerate(keys()):
                    if not inboxes[i % workers].put(key):
                        return
                for inbox in inboxes:
                    inbox.put(_DONE)
                for _ in range(workers):  # the snapshot lives as long as this transaction
                    while not imported.acquire(timeout=WAIT):
                        if stop.is_set():
                            return
        except BaseException as exc:
            failed(exc)
        finally:
            exported.set()
            connections.close_all()  # this thread's connections only

    def renderer(n: int) -> None:
        try:
            exported.wait()
            if stop.is_set():
                return
            with transaction.atomic(using=using):
                with connections[using].cursor() as cursor:
                    _repeatable_read(cursor)
                    cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot["id"]])
                imported.release()
                while (key := inboxes[n].get()) is not _DONE:
                    if not outboxes[n].put(render(key)):
                        return
            outboxes[n].put(_DONE)
        except BaseException as exc:  # raised by the consumer
            failed(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=key_reader, name="export-keys", daemon=True)]
    threads += [
        threading.Thread(target=renderer, args=(n,), name=f"export-render-{n}", daemon=True) for n in range(workers)
    ]
    for thread in threads:
        thread.start()
    try:
        for i in itertools.count():
            item = outboxes[i % workers].get()
            if failures:
                raise failures[0]
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
