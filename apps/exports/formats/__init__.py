"""The format catalog: a format name maps to its writer. A new format is one module and one line here."""

from __future__ import annotations

from apps.core.exceptions import ApplicationError

from .base import Batch, Column, Problem, SourceMeta, Writer, WriterRestart
from .csv import CSVWriter
from .jsonl import JSONLWriter
from .openai_chat import OpenAIChatWriter
from .openai_dpo import OpenAIPreferenceWriter
from .parquet import ParquetWriter

WRITERS: dict[str, type[Writer]] = {
    "jsonl": JSONLWriter,
    "csv": CSVWriter,
    "parquet": ParquetWriter,
    "openai_chat": OpenAIChatWriter,
    "openai_dpo": OpenAIPreferenceWriter,
}


def writer_for(name: str) -> type[Writer]:
    try:
        return WRITERS[name]
    except KeyError:
        raise ApplicationError(
            f"Unknown export format {name!r}.", fields={"format": [f"Choose from {', '.join(WRITERS)}."]}
        )


def file_extension(name: str, *, gzip: bool) -> str:
    return writer_for(name).extension + (".gz" if gzip else "")


__all__ = [
    "Batch",
    "Column",
    "Problem",
    "SourceMeta",
    "Writer",
    "WriterRestart",
    "WRITERS",
    "writer_for",
    "file_extension",
]
