"""Demo data: two experiments on the demo dataset's "baseline" version, scored by two deterministic scorers,
so the compare page has means, deltas and regressions to show. Judge scores need an LLM endpoint, which the
embedded demo has none of: a judge scorer is defined, not run."""

from __future__ import annotations

from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_records_at_version, dataset_version_resolve
from apps.reviews.models import ScoreConfig
from apps.reviews.services.score_configs import score_config_create

from .models import Experiment
from .scorers.versions import scorer_create
from .scoring import results_score
from .services import experiment_create, experiment_results_upsert


def _text(value) -> str:
    return value if isinstance(value, str) else str(value or "")


def _outputs(records, *, candidate: bool) -> list[dict]:
    """The baseline repeats the expected answer for two records in three; the candidate for all but the
    hard ones, so the comparison shows improvements and a regression."""
    items = []
    for index, record in enumerate(records):
        expected = _text(record.expected)
        hard = (record.metadata or {}).get("difficulty") == "hard"
        right = (not hard) if candidate else index % 3 != 2
        output = expected if right else f"I am not sure. {expected[:40]}".strip()
        items.append(
            {
                "record_id": record.record_id,
                "output": output,
                "latency_ms": 420.0 + 37 * (index % 7) - (90 if candidate else 0),
                "input_tokens": 180 + index,
                "output_tokens": 60 + index % 11,
                "cost": 0.0011 if candidate else 0.0016,
            }
        )
    return items


def load_demo_experiments(*, project, traces, stdout) -> None:
    dataset = Dataset.objects.filter(project=project, name="support-golden").first()
    if dataset is None or Experiment.objects.filter(project=project).exists():
        return
    pinned = dataset_version_resolve(dataset=dataset, tag="baseline")
    records = list(dataset_records_at_version(dataset=dataset, version=pinned.number))
    if not records:
        return
    configs = {}
    for name, kind in (("exact answer", "boolean"), ("mentions the policy", "boolean"), ("judge: helpful", "boolean")):
        configs[name] = ScoreConfig.objects.filter(project=project, name=name).first() or score_config_create(
            project=project, name=name, kind=kind, description="Written by a scorer in the demo experiments."
        )
    exact = scorer_create(
        project=project, name="exact match", kind="deterministic", config=configs["exact answer"],
        definition={"type": "exact_match"},
    )  # fmt: skip
    contains = scorer_create(
        project=project, name="mentions days", kind="deterministic", config=configs["mentions the policy"],
        definition={"type": "contains", "params": {"value": "days"}},
    )  # fmt: skip
    scorer_create(
        project=project, name="helpfulness judge", kind="llm_judge", config=configs["judge: helpful"],
        definition={"rubric": "Is the answer helpful and correct for the customer?", "model": "", "parameters": {}},
    )  # fmt: skip
    for name, candidate, model in (("baseline prompt", False, "gpt-4o-mini"), ("concise prompt", True, "gpt-4.1")):
        experiment = experiment_create(
            project=project, dataset=dataset, version="baseline", name=name,
            description="Demo run of the support assistant.", metadata={"model": model, "prompt": name},
        )  # fmt: skip
        experiment_results_upsert(experiment=experiment, items=_outputs(records, candidate=candidate))
        for scorer in (exact, contains):
            results_score(version=scorer.versions.get(), experiment=experiment)
    stdout.write(f"  demo experiments: 2 on {dataset.name} ({len(records)} records each), scored by 2 scorers")
