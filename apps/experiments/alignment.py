"""Judge alignment: how well an LLM judge's scores agree with people's on the same spans, per judge version.

The human label of a span for a config is its gold value when a lead adjudicated one (or it is a gold
question's known answer), else the value its reviewers agree on (one reviewer's score counts; several
must agree as the queues' disagreement rule says), else the span is left out. The judge's label is the
newest automated score of the version on the span. Agreement is Cohen's kappa for categorical and
boolean configs and Krippendorff's alpha (interval) for continuous ones, with a bootstrap 95 % interval;
categorical and boolean configs also get a confusion matrix (human rows × judge columns).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from apps.core.exceptions import ApplicationError
from apps.queues.disagreement import values_disagree
from apps.queues.gold import span_gold
from apps.reviews.models import Score, ScoreConfig, ScoreKind, ScoreSource

from . import stats
from .compare_records import trace_link_for_span
from .models import Scorer, ScorerKind, ScorerVersion

MAX_SPANS = 5_000  # the newest judged spans per version
MAX_VERSIONS = 5  # the newest versions side by side
MAX_DISAGREEMENTS = 100
AGREE_SHARE = 0.1  # continuous values agree within this share of the config's range (the queues' default)
SUPPORTED = (ScoreKind.CATEGORICAL, ScoreKind.BOOLEAN, ScoreKind.CONTINUOUS)


@dataclass
class HumanLabel:
    value: Any  # a label (categorical), True/False (boolean) or a number (continuous)
    source: str  # "gold" | "agreed"


def score_label(kind: str, value: float | None, label: str) -> Any:
    """A score as a comparable label: the option label, true/false, or the number."""
    if kind == ScoreKind.CATEGORICAL:
        return label or None
    if value is None:
        return None
    if kind == ScoreKind.BOOLEAN:
        return value >= 0.5
    return float(value)


def label_display(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def judge_scorer(queryset, pk) -> Scorer:
    from apps.core.exceptions import not_found

    scorer = queryset.filter(pk=pk).select_related("project").first()
    if scorer is None:
        raise not_found("Scorer not found.")
    if scorer.kind != ScorerKind.LLM_JUDGE:
        raise ApplicationError("Not an LLM judge.", fields={"scorer": ["Alignment is measured for LLM judges."]})
    return scorer


def human_config_for(scorer: Scorer, name: str | None, version: ScorerVersion | None) -> ScoreConfig:
    """`?human_config=<name>` in the scorer's project (default: the config the judge writes)."""
    if not name:
        if version is None:
            raise ApplicationError("Name the config.", fields={"human_config": ["This field is required."]})
        return version.config
    config = ScoreConfig.objects.filter(project_id=scorer.project_id, name=name).first()
    if config is None:
        raise ApplicationError("Unknown score config.", fields={"human_config": [f"No score config named {name!r}."]})
    if config.kind not in SUPPORTED or config.multi_select:
        raise ApplicationError(
            "Unsupported config.", fields={"human_config": ["A categorical (single), boolean or continuous config."]}
        )
    return config


def human_labels(config: ScoreConfig, span_ids: list[int]) -> dict[int, HumanLabel]:
    """The human label of each span that has one (gold first, else the reviewers' agreed value)."""
    out: dict[int, HumanLabel] = {}
    for span_id, gold in span_gold(span_ids).items():
        value = gold["scores"].get(config.name)
        if value is not None and not isinstance(value, list):
            out[span_id] = HumanLabel(
                value=float(value) if config.kind == ScoreKind.CONTINUOUS else value, source="gold"
            )
    given: dict[int, list[Any]] = defaultdict(list)
    rows = Score.objects.filter(
        config=config, source=ScoreSource.HUMAN, span_id__in=[s for s in span_ids if s not in out]
    ).values_list("span_id", "value", "label")
    for span_id, value, label in rows:
        state = score_label(config.kind, value, label)
        if state is not None:
            given[span_id].append(state)
    for span_id, values in given.items():
        disagree, _ = values_disagree(config, values, AGREE_SHARE)
        if disagree:
            continue
        value = float(np.mean(values)) if config.kind == ScoreKind.CONTINUOUS else values[0]
        out[span_id] = HumanLabel(value=value, source="agreed")
    return out


def _judge_labels(version: ScorerVersion) -> dict[int, Any]:
    """{span pk: label} of the version's newest automated score per span, newest spans first."""
    rows = (
        Score.objects.filter(scorer_version=version, source=ScoreSource.AUTOMATED)
        .order_by("-id")
        .values_list("span_id", "value", "label")[: MAX_SPANS * 2]
    )
    out: dict[int, Any] = {}
    for span_id, value, label in rows:
        if span_id not in out and len(out) < MAX_SPANS:
            state = score_label(version.config.kind, value, label)
            if state is not None:
                out[span_id] = state
    return out


def _categories(config: ScoreConfig, human: list, judge: list) -> list:
    if config.kind == ScoreKind.BOOLEAN:
        return [False, True]
    known = list(config.option_labels)
    return known + sorted({str(v) for v in human + judge} - set(known))


def _categorical(config: ScoreConfig, human: list, judge: list) -> dict[str, Any]:
    categories = _categories(config, human, judge)
    code = {c: i for i, c in enumerate(categories)}
    a = np.array([code[v] for v in human], dtype=int)
    b = np.array([code[v] for v in judge], dtype=int)
    k = len(categories)
    matrix = np.bincount(a * k + b, minlength=k * k).reshape(k, k)

    def kappa(x, y):
        return stats.cohen_kappa_codes(x, y, k)

    names = ["yes" if c is True else "no" if c is False else c for c in categories]
    return {
        "measure": "cohen_kappa",
        "value": kappa(a, b),
        "ci": _ci(stats.bootstrap_statistic_ci(kappa, a, b)),
        "agreement_rate": float((a == b).mean()) if a.size else None,
        "confusion": {"labels": names, "rows": "human", "columns": "judge", "matrix": matrix.tolist()},
    }


def _continuous(human: list, judge: list) -> dict[str, Any]:
    a, b = np.array(human, dtype=float), np.array(judge, dtype=float)
    return {
        "measure": "krippendorff_alpha_interval",
        "value": stats.krippendorff_alpha_interval_pairs(a, b),
        "ci": _ci(stats.bootstrap_statistic_ci(stats.krippendorff_alpha_interval_pairs, a, b)),
        "mean_absolute_difference": float(np.abs(a - b).mean()) if a.size else None,
        "confusion": None,
    }


def _ci(interval):
    return None if interval is None else [round(interval[0], 6), round(interval[1], 6)]


def _differs(config: ScoreConfig, human: Any, judge: Any) -> bool:
    if config.kind == ScoreKind.CONTINUOUS:
        return abs(float(human) - float(judge)) > AGREE_SHARE * (abs(config.max_value - config.min_value) or 1.0)
    return human != judge


def _disagreements(config, spans: list[int], human: dict, judge: dict) -> tuple[int, list[dict]]:
    from apps.traces.models import Span

    differing = [s for s in spans if _differs(config, human[s].value, judge[s])]
    shown = {
        s.pk: s
        for s in Span.objects.filter(pk__in=differing[:MAX_DISAGREEMENTS])
        .select_related("trace")
        .only("span_id", "name", "trace__trace_id")
    }
    rows = []
    for pk in differing[:MAX_DISAGREEMENTS]:
        span = shown[pk]
        rows.append(
            {
                "span_id": span.span_id,
                "trace_id": span.trace.trace_id,
                "name": span.name,
                "human": human[pk].value,
                "human_display": label_display(human[pk].value),
                "human_source": human[pk].source,
                "judge": judge[pk],
                "judge_display": label_display(judge[pk]),
                "trace_url": trace_link_for_span(span),
            }
        )
    return len(differing), rows


def version_alignment(version: ScorerVersion, config: ScoreConfig) -> dict[str, Any]:
    """One judge version against the human labels of `config`."""
    judge = _judge_labels(version)
    human = human_labels(config, list(judge))
    spans = sorted(s for s in judge if s in human)
    row: dict[str, Any] = {
        "version": version.number,
        "version_id": version.pk,
        "judge_config": version.config.name,
        "judged": len(judge),
        "labelled": len(spans),
        "from_gold": sum(1 for s in spans if human[s].source == "gold"),
    }
    if version.config.kind != config.kind:
        raise ApplicationError(
            "Kinds differ.",
            fields={"human_config": [f"The judge writes {version.config.kind}, this is {config.kind}."]},
        )
    h = [human[s].value for s in spans]
    j = [judge[s] for s in spans]
    row.update(_categorical(config, h, j) if config.kind != ScoreKind.CONTINUOUS else _continuous(h, j))
    row["disagreement_count"], row["disagreements"] = _disagreements(config, spans, human, judge)
    return row


def scorer_alignment(scorer: Scorer, *, human_config: str | None) -> dict[str, Any]:
    """The newest MAX_VERSIONS versions of a judge side by side against one human config."""
    versions = list(scorer.versions.select_related("config").order_by("-number")[:MAX_VERSIONS])
    config = human_config_for(scorer, human_config, versions[0] if versions else None)
    return {
        "scorer": {"id": scorer.pk, "name": scorer.name, "kind": scorer.kind},
        "human_config": {"id": config.pk, "name": config.name, "kind": config.kind},
        "resamples": stats.RESAMPLES,
        "confidence": stats.CONFIDENCE,
        "versions": [version_alignment(v, config) for v in versions],
    }
