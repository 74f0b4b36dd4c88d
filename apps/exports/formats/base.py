"""What a format writer receives: batches of rows with declared column kinds.

Column kinds: `str`, `int`, `float`, `bool`, `datetime` (a Python datetime), `timestamp` (a UTC
timestamp already formatted as ISO 8601 text by the database, see `sources.IsoTimestamp`; parsing
datetimes in Python was a large share of an export's time), `rawjson` (JSON text straight from the database,
written as is by JSONL and Parquet and parsed only by formats that need values) and `json` (a
Python value). Declaring kinds per column keeps the per-row work of the fast formats to
string joins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import orjson

KINDS = {"str", "int", "float", "bool", "datetime", "timestamp", "rawjson", "json"}


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    nullable: bool = True
    # CSV: write the value as one text cell (a string as itself, else its JSON) instead of dotted columns.
    as_text: bool = False
    # CSV: only the dotted columns of its keys (`score.<config>.<reviewer>`), never a column of its own.
    spread: bool = False
    # CSV: no cell for an empty value, so a file where it is always empty has no such column (gold).
    optional: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown column kind {self.kind!r}")


@dataclass(frozen=True)
class SourceMeta:
    """Describes the rows of a source: the columns, the id reported in problems, the chat fields."""

    columns: tuple[Column, ...]
    id_column: str
    chat_input: str = "input"
    chat_expected: str = "expected"

    def index(self, name: str) -> int:
        return [c.name for c in self.columns].index(name)


@dataclass
class Batch:
    rows: list[tuple]
    # JSON lines rendered by the database (sources: span_source), each ending with the writer's
    # `lines_options` suffix: its encoding of the columns after them at their default values, "}" and
    # a newline. `rows` then hold only those columns, and `changed` lists the rows whose values
    # differ from the defaults (spans with annotations or gold), the only ones the writer re-renders.
    lines: list[str] | None = None
    changed: list[int] = field(default_factory=list)
    # What the writer's `prepare` made of the batch in a reading thread (Parquet: the Arrow table).
    prepared: Any = None


class WriterRestart(Exception):
    """A writer found, after writing, that the file's schema cannot hold a later batch: the job writes
    the file again from the start with a new writer built with `hints` (see formats.parquet)."""

    def __init__(self, *, hints: dict, reason: str):
        super().__init__(reason)
        self.hints = hints


@dataclass
class Problem:
    record: str
    reason: str


def dumps_json(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def python_value(kind: str) -> Callable[[Any], Any]:
    """A converter from a stored cell to a plain Python value (rawjson parsed, datetimes as ISO text)."""
    if kind == "rawjson":
        return lambda v: None if v is None else orjson.loads(v)
    if kind == "datetime":
        return lambda v: None if v is None else v.isoformat()
    return lambda v: v


class Writer:
    """One export format. `fh` is a binary file (possibly gzip-wrapped) the writer streams into."""

    extension = ""
    content_type = "application/octet-stream"
    supports_gzip = True
    accepts_json_lines = False  # may be given Batch.lines (see sources.SpanSource.batches)
    # Database connections rendering those lines at once (parallel_read), at most; EXPORTS_READERS
    # decides below it.
    max_readers = 8
    # What rows the source builds (sources.JobSource.layout): "nested" keeps annotations as lists;
    # "table" adds one column per score config; "flat" (CSV) has those columns instead of the lists.
    layout = "nested"

    def __init__(self, fh: BinaryIO, meta: SourceMeta):
        self.fh = fh
        self.meta = meta
        self.problems: list[Problem] = []
        self.rows_written = 0

    def lines_options(self, source) -> dict:
        """Before the first batch of database-rendered lines: how the source renders them
        (`suffix`, see Batch.lines)."""
        return {}

    def prepare(self, batch: Batch) -> Batch:
        """Work on a batch that may run in a reading thread, before `write_batch` in the job's own
        (see parallel_read). Uses only what is fixed once the batches start."""
        return batch

    def write_batch(self, batch: Batch) -> None:  # pragma: no cover - every format overrides
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (footers, headers written last); the caller closes `fh`."""

    def abort(self) -> None:
        """The export stopped early: release resources; the partial file is deleted by the caller."""
