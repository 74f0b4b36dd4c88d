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


class _ParallelRead:
    """The threads of one `parallel_batches` call: a key reader that exports its snapshot and deals the
    keys out, `workers` renderers that import it, and what they share (queues, the stop flag, the
    first failure)."""

    def __init__(self, keys, render, *, workers: int, depth: int, using: str):
        self.keys, self.render, self.workers, self.using = keys, render, workers, using
        self.stop = threading.Event()
        self.failures: list[BaseException] = []
        self.inboxes = [_Pipe(self.stop, depth) for _ in range(workers)]
        self.outboxes = [_Pipe(self.stop, depth) for _ in range(workers)]
        self.snapshot: dict[str, str] = {}
        self.exported, self.imported = threading.Event(), threading.Semaphore(0)

    def failed(self, exc: BaseException) -> None:
        self.failures.append(exc)
        self.stop.set()

    def key_reader(self) -> None:
        try:
            with transaction.atomic(using=self.using):
                with connections[self.using].cursor() as cursor:
                    _repeatable_read(cursor)
                    cursor.execute("SELECT pg_export_snapshot()")
                    self.snapshot["id"] = cursor.fetchone()[0]
                self.exported.set()
                for i, key in enumerate(self.keys()):
                    if not self.inboxes[i % self.workers].put(key):
                        return
                for inbox in self.inboxes:
                    inbox.put(_DONE)
                for _ in range(self.workers):  # the snapshot lives as long as this transaction
                    while not self.imported.acquire(timeout=WAIT):
                        if self.stop.is_set():
                            return
        except BaseException as exc:
            self.failed(exc)
        finally:
            self.exported.set()
            connections.close_all()  # this thread's connections only

    def renderer(self, n: int) -> None:
        try:
            self.exported.wait()
            if self.stop.is_set():
                return
            with transaction.atomic(using=self.using):
                with connections[self.using].cursor() as cursor:
                    _repeatable_read(cursor)
                    cursor.execute("SET TRANSACTION SNAPSHOT %s", [self.snapshot["id"]])
                self.imported.release()
                while (key := self.inboxes[n].get()) is not _DONE:
                    if not self.outboxes[n].put(self.render(key)):
                        return
            self.outboxes[n].put(_DONE)
        except BaseException as exc:  # raised by the consumer
            self.failed(exc)
        finally:
            connections.close_all()

    def batches(self) -> Iterator[Batch]:
        threads = [threading.Thread(target=self.key_reader, name="export-keys", daemon=True)]
        threads += [
            threading.Thread(target=self.renderer, args=(n,), name=f"export-render-{n}", daemon=True)
            for n in range(self.workers)
        ]
        for thread in threads:
            thread.start()
        try:
            for i in itertools.count():
                item = self.outboxes[i % self.workers].get()
                if self.failures:
                    raise self.failures[0]
                if item is _DONE:
                    return
                yield item
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=60)


def parallel_batches(
    keys: Callable[[], Iterator[Any]],
    render: Callable[[Any], Batch],
    *,
    workers: int = 2,
    depth: int = 2,
    using: str = "default",
) -> Iterator[Batch]:
    """The batches `render(key)` for every key of `keys()`, in order, rendered by `workers` threads."""
    return _ParallelRead(keys, render, workers=workers, depth=depth, using=using).batches()
