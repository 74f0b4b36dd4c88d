"""Experiments with scored results for the compare and alignment tests, made with the ORM and factories
(each result backed by a one-span trace, as Assay makes them)."""

from __future__ import annotations

from apps.datasets.models import DatasetVersion
from apps.experiments.models import Experiment, ExperimentResult, Scorer, ScorerVersion
from apps.reviews.models import Score, ScoreSource
from tests import factories


def dataset_version(project, number: int = 1, dataset=None) -> DatasetVersion:
    dataset = dataset or factories.DatasetFactory(project=project)
    return DatasetVersion.objects.create(dataset=dataset, number=number, record_count=0)


def experiment(project, version: DatasetVersion, name: str) -> Experiment:
    return Experiment.objects.create(
        project=project,
        dataset=version.dataset,
        dataset_version=version,
        version_number=version.number,
        name=name,
    )


def result(exp: Experiment, record_id: str, output, *, scores: dict | None = None, input_=None, expected=None):
    """A result on a new span with automated scores {config: value}."""
    trace = factories.TraceFactory(project=exp.project, trace_id=f"t-{exp.pk}-{record_id}")
    span = factories.SpanFactory(
        trace=trace, span_id=f"s-{exp.pk}-{record_id}", input=input_ or {"q": record_id}, output=output
    )
    res = ExperimentResult.objects.create(
        experiment=exp,
        record_id=record_id,
        input=input_ or {"q": record_id},
        expected=expected,
        output=output,
        span=span,
        trace_id=trace.trace_id,
        latency_ms=10.0,
    )
    for config, value in (scores or {}).items():
        Score.objects.create(project=exp.project, span=span, config=config, value=value, source=ScoreSource.AUTOMATED)
    return res


def scored_pair(project, config, base_values: list[float], other_values: list[float]):
    """Two experiments on one dataset version, record r00..rNN scored with the given values."""
    version = dataset_version(project)
    a, b = experiment(project, version, "baseline"), experiment(project, version, "candidate")
    for i, (x, y) in enumerate(zip(base_values, other_values, strict=True)):
        result(a, f"r{i:02d}", f"answer {i}", scores={config: x})
        result(b, f"r{i:02d}", f"answer {i} changed" if x != y else f"answer {i}", scores={config: y})
    return a, b


def judge(project, config, *, definition=None, name="judge") -> tuple[Scorer, ScorerVersion]:
    scorer = Scorer.objects.create(project=project, name=name, kind="llm_judge", latest_version=1)
    version = ScorerVersion.objects.create(
        scorer=scorer, number=1, config=config, definition=definition or {"rubric": "Is it right?", "model": "m"}
    )
    return scorer, version


def judge_version(scorer: Scorer, config, number: int) -> ScorerVersion:
    scorer.latest_version = number
    scorer.save()
    return ScorerVersion.objects.create(scorer=scorer, number=number, config=config, definition={"rubric": "v"})


def judged_span(project, version: ScorerVersion, judge_value=None, *, judge_label="", humans=(), name="s"):
    """A span the judge scored; `humans` is [(user, value, label)] human scores."""
    span = factories.SpanFactory(trace=factories.TraceFactory(project=project), name=name)
    Score.objects.create(
        project=project,
        span=span,
        config=version.config,
        value=judge_value,
        label=judge_label,
        source=ScoreSource.AUTOMATED,
        scorer_version=version,
    )
    for user, value, label in humans:
        Score.objects.create(
            project=project, span=span, config=version.config, value=value, label=label, author=user, source="human"
        )
    return span
