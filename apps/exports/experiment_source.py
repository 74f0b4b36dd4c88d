"""The `experiment` source: one row per experiment result (issue 14, item 7).

Each row holds the experiment (id, name, pinned dataset version), the record id, the input and
expected as of that version, the output, error, latency, tokens, cost, metadata, the trace and span
ids, and then, for every score config the exported results' spans carry automated or human scores
of, typed columns (`SCORE_PREFIX` + config name):

- `score.<config>`: the newest automated score's value (the text for a text config),
- `score.<config>.label`: its label (categorical configs),
- `score.<config>.scorer`: the scorer version that wrote it, as `<scorer name> v<number>`,
- `score.<config>.human`: the mean of the human scores' values (a text config: the newest text).

`filters` name the experiments: `{"experiment": <id>}` or `{"experiment": [<id>, …]}` of the job's
project; an id of another project answers exactly like a missing one (404). An admin selection of
results (`selected_pks`) is intersected with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from apps.core.exceptions import ApplicationError, not_found
from apps.core.parsing import is_id

from .expressions import IsoTimestamp, raw
from .formats.base import Batch, Column, SourceMeta
from .models import ExportSource
from .readers import NOT_NULL, NULLABLE, _ObservedSource

SCORE_PREFIX = "score."
FILTERS = frozenset({"experiment"})
MAX_EXPERIMENTS = 100

RESULT_FIELDS: list[tuple[str, str, Any, bool]] = [
    ("experiment_id", "int", "experiment_id", NOT_NULL),
    ("experiment", "str", "experiment__name", NOT_NULL),
    ("dataset_version", "int", "experiment__version_number", NOT_NULL),
    ("record_id", "str", "record_id", NOT_NULL),
    ("input", "rawjson", raw("input"), NULLABLE),
    ("expected", "rawjson", raw("expected"), NULLABLE),
    ("output", "rawjson", raw("output"), NULLABLE),
    ("error", "str", "error", NOT_NULL),
    ("latency_ms", "float", "latency_ms", NULLABLE),
    ("input_tokens", "int", "input_tokens", NULLABLE),
    ("output_tokens", "int", "output_tokens", NULLABLE),
    ("total_tokens", "int", "total_tokens", NULLABLE),
    ("cost", "float", "cost", NULLABLE),
    ("metadata", "rawjson", raw("metadata"), NOT_NULL),
    ("trace_id", "str", "trace_id", NOT_NULL),
    ("span_id", "str", "span__span_id", NULLABLE),
    ("created_at", "timestamp", IsoTimestamp("created_at"), NOT_NULL),
    ("updated_at", "timestamp", IsoTimestamp("updated_at"), NOT_NULL),
]


def experiment_filters_clean(*, project, filters) -> list[int]:
    """The experiment ids `filters` name, each one of `project`'s; 400 naming the filter, 404 for an
    experiment the project does not have (another project's answers like a missing one)."""
    from apps.experiments.models import Experiment

    unknown = sorted(set(filters) - FILTERS)
    if unknown:
        raise ApplicationError(
            "Unknown filters.", fields={f"filters.{name}": ["Not a filter of experiment exports."] for name in unknown}
        )
    if "experiment" not in filters:
        raise ApplicationError(
            "An experiment export names its experiments.",
            fields={"filters.experiment": ["This field is required: an experiment id or a list of ids."]},
        )
    value = filters["experiment"]
    ids = value if isinstance(value, list) else [value]
    if not ids or len(ids) > MAX_EXPERIMENTS or not all(is_id(i) and not isinstance(i, bool) for i in ids):
        raise ApplicationError(
            "Invalid experiment filter.",
            fields={"filters.experiment": [f"An experiment id or a list of 1 to {MAX_EXPERIMENTS} ids."]},
        )
    wanted = sorted({int(i) for i in ids})
    found = set(Experiment.objects.filter(project=project, pk__in=wanted).values_list("pk", flat=True))
    if len(found) != len(wanted):
        raise not_found("Experiment not found.")
    return wanted


def experiment_results_filtered(*, project, filters: dict):
    from apps.experiments.models import ExperimentResult

    ids = experiment_filters_clean(project=project, filters=filters)
    return ExperimentResult.objects.filter(experiment__project=project, experiment_id__in=ids)


def _score_configs(results) -> list:
    """The configs the results' spans carry automated or human scores of, in the project's order."""
    from apps.reviews.models import Score, ScoreConfig, ScoreSource

    scored = Score.objects.filter(
        span_id__in=results.exclude(span=None).values("span_id"), source__in=[ScoreSource.AUTOMATED, ScoreSource.HUMAN]
    )
    return list(ScoreConfig.objects.filter(pk__in=scored.values("config_id")).order_by("order", "name"))


def _config_columns(config) -> tuple[Column, ...]:
    from apps.reviews.models import ScoreKind

    name = SCORE_PREFIX + config.name
    kind = "str" if config.kind == ScoreKind.TEXT else "float"
    columns = [Column(name, kind)]
    if config.kind == ScoreKind.CATEGORICAL:
        columns.append(Column(f"{name}.label", "str"))
    return (*columns, Column(f"{name}.scorer", "str"), Column(f"{name}.human", kind))


class ExperimentResultSource(_ObservedSource):
    source = ExportSource.EXPERIMENT

    def __init__(self, job, *, chunk_size: int):
        super().__init__(job, chunk_size=chunk_size)
        self.configs = _score_configs(self.queryset())
        columns = tuple(Column(n, k, nullable) for n, k, _, nullable in RESULT_FIELDS)
        score_columns = tuple(c for config in self.configs for c in _config_columns(config))
        columns += score_columns
        self.empty = (None,) * len(score_columns)  # a result without scores of these configs
        self.meta = SourceMeta(columns=columns, id_column="record_id", chat_input="input", chat_expected="expected")

    def queryset(self):
        return experiment_results_filtered(project=self.job.project, filters=self.job.filters)

    def batches(self) -> Iterator[Batch]:
        fields = [expr for _, _, expr, _ in RESULT_FIELDS] + ["span"]  # the span pk last: its scores
        for rows in self.pk_chunks(self.queryset(), fields):
            scores = self._scores([row[-1] for row in rows if row[-1] is not None])
            yield Batch(rows=[row[1:-1] + scores.get(row[-1], self.empty) for row in rows])

    def _scores(self, span_pks: list[int]) -> dict[int, tuple]:
        """{span pk: the score columns} of the spans with any score of the configs."""
        from apps.reviews.models import Score, ScoreKind, ScoreSource

        if not span_pks or not self.configs:
            return {}
        rows = (
            Score.objects.filter(
                span_id__in=span_pks,
                config_id__in=[c.pk for c in self.configs],
                source__in=[ScoreSource.AUTOMATED, ScoreSource.HUMAN],
            )
            .order_by("id")  # oldest first: the newest automated score wins
            .values_list(
                "span_id", "config_id", "source", "value", "label", "labels", "text",
                "scorer_version__scorer__name", "scorer_version__number",
            )
        )  # fmt: skip
        automated: dict[tuple[int, int], tuple] = {}
        human: dict[tuple[int, int], list] = {}
        for span_pk, config_pk, source, value, label, labels, text, scorer, number in rows:
            if source == ScoreSource.AUTOMATED:
                automated[(span_pk, config_pk)] = (value, label or ", ".join(labels or ()), text, scorer, number)
            else:
                human.setdefault((span_pk, config_pk), []).append((value, text))
        out: dict[int, tuple] = {}
        for span_pk in {key[0] for key in automated} | {key[0] for key in human}:
            row: list = []
            for config in self.configs:
                found = automated.get((span_pk, config.pk))
                people = human.get((span_pk, config.pk), [])
                if config.kind == ScoreKind.TEXT:
                    row.append(found[2] if found else None)
                else:
                    row.append(found[0] if found else None)
                if config.kind == ScoreKind.CATEGORICAL:
                    row.append(found[1] or None if found else None)
                row.append(f"{found[3]} v{found[4]}" if found and found[3] else None)
                if config.kind == ScoreKind.TEXT:
                    row.append(people[-1][1] if people else None)
                else:
                    values = [v for v, _ in people if v is not None]
                    row.append(sum(values) / len(values) if values else None)
            out[span_pk] = tuple(row)
        return out
