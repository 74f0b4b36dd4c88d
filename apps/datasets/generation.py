"""Generated records: ask an OpenAI-compatible chat completions endpoint for new records in the style of
sampled existing ones.

The endpoint is `apps.core.llm`'s. What comes back is untrusted: it is parsed as JSON and validated
like any other batch.
"""

from __future__ import annotations

import json
import random
from typing import Any

from django.conf import settings

from apps.core.exceptions import ApplicationError
from apps.core.llm import LLM_HELP, llm_chat, llm_configured

from .models import Dataset, DatasetVersion, RecordOrigin
from .selectors import dataset_records_at_version
from .services.records import dataset_records_upsert

GENERATED_TAG = "needs-review"
MAX_GENERATED = 50
SAMPLE_CHARS = 4000


def _sample(dataset: Dataset, size: int) -> list[dict[str, Any]]:
    live = dataset_records_at_version(dataset=dataset)
    total = live.count()
    if not total or not size:
        return []
    # Random offsets rather than ORDER BY random(): cheap on a large dataset.
    offsets = sorted(random.sample(range(total), min(size, total)))
    picked = []
    for offset in offsets:
        record = live.values("input", "expected", "metadata")[offset : offset + 1].first()
        if record:
            text = json.dumps(record, ensure_ascii=False, default=str)
            if len(text) <= SAMPLE_CHARS:
                picked.append(record)
    return picked


def generation_prompt(*, dataset: Dataset, examples: list[dict], count: int, instructions: str) -> list[dict]:
    system = (
        "You write test cases for evaluating an LLM application. Answer with one JSON object "
        '{"records": [{"input": ..., "expected": ..., "metadata": {...}}]} and nothing else. '
        "Match the structure and style of the examples exactly (same keys and value types), "
        "but write new, varied cases."
    )
    user = {
        "dataset": dataset.name,
        "description": dataset.description,
        "count": count,
        "instructions": instructions or "",
        "examples": examples,
    }
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": json.dumps(user, ensure_ascii=False, default=str)},
    ]


def dataset_generate_records(
    *,
    dataset: Dataset,
    count: int,
    instructions: str = "",
    author=None,
    sample_size: int = 5,
) -> DatasetVersion | None:
    """Generate `count` records and insert them as ONE version, origin `generated`, tagged needs-review."""
    if not llm_configured():
        raise ApplicationError(LLM_HELP, status=503)
    if not isinstance(count, int) or not 1 <= count <= MAX_GENERATED:
        raise ApplicationError("Invalid count.", fields={"count": [f"Between 1 and {MAX_GENERATED}."]})
    examples = _sample(dataset, sample_size)
    answer = llm_chat(
        generation_prompt(dataset=dataset, examples=examples, count=count, instructions=instructions),
        json_mode=True,
        temperature=0.8,
    )
    records = answer.get("records") if isinstance(answer, dict) else answer
    if not isinstance(records, list) or not records:
        raise ApplicationError("The LLM answer had no records.", status=502)
    rows = []
    for item in records[:count]:
        if not isinstance(item, dict):
            continue
        metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        rows.append(
            {
                "input": item.get("input"),
                "expected": item.get("expected"),
                "metadata": {**metadata, "generated_by": settings.LLM_MODEL},
            }
        )
    rows = [r for r in rows if r["input"] is not None]
    if not rows:
        raise ApplicationError("The LLM answer had no usable records (each needs an input).", status=502)
    try:
        return dataset_records_upsert(
            dataset=dataset,
            records=rows,
            author=author,
            origin=RecordOrigin.GENERATED,
            extra_tags=[GENERATED_TAG],
            message=f"Generate {len(rows)} record(s)" + (f": {instructions[:200]}" if instructions else ""),
        )
    except ApplicationError as exc:
        raise ApplicationError(
            f"The generated records were invalid; nothing was written. {exc.message}", fields=exc.fields, status=502
        )
