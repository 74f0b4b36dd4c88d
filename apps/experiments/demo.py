"""Demo data: two experiments on the demo dataset's "baseline" version, scored by two deterministic scorers and
a helpfulness judge, with a demo reviewer's labels on the judge's config, so the compare page has means,
deltas and regressions to show and judge alignment has pairs.

The embedded demo has no LLM endpoint, so the judge's scores are demo data like the synthetic traces: they
are written through the scoring service as the judge version's automated scores, but produced by a
deterministic local rubric (`demo_judge_rubric`) standing in for the model, and each says so in its comment.
The reviewer's labels are synthetic too (`_reviewer_label`): they agree with the rubric except on every
fifth reviewed record, so alignment shows a kappa below 1, a confusion matrix and disagreements."""

from __future__ import annotations

from apps.datasets.models import Dataset
from apps.datasets.selectors import dataset_records_at_version, dataset_version_resolve
from apps.projects.models import Role
from apps.projects.services import demo_member
from apps.reviews.models import ScoreConfig
from apps.reviews.services.score_configs import score_config_create
from apps.reviews.services.scores import CleanScore, score_record

from .models import Experiment, ScorerVersion
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


HEDGE = "I am not sure."
RUBRIC_NOTE = "Demo data: a local rubric stood in for the model (the embedded demo has no LLM endpoint)."


def _helpful(output, expected) -> bool:
    """The rubric: an answer is helpful when it does not hedge and states the expected answer."""
    text, wanted = _text(output).strip(), _text(expected).strip()
    return not text.startswith(HEDGE) and bool(wanted) and wanted in text


def demo_judge_rubric(config: ScoreConfig):
    """The demo's stand-in for the helpfulness judge's model: `_helpful` as the judge's boolean score."""

    def score(input, output, expected) -> CleanScore:
        return CleanScore(config=config, value=1.0 if _helpful(output, expected) else 0.0, comment=RUBRIC_NOTE)

    return score


def _reviewer_label(index: int, result) -> bool:
    """The demo reviewer agrees with the rubric except on every fifth reviewed record (synthetic labels)."""
    helpful = _helpful(result.output, result.expected)
    return (not helpful) if index % 5 == 4 else helpful


def _judge_demo_scores(experiment: Experiment, judge: ScorerVersion, reviewer) -> int:
    """The reviewer's labels on two results in three, then the judge's rubric scores on every result
    (after, so compare shows the judge's values). Answers the number of labels."""
    labelled = 0
    results = experiment.results.select_related("span").order_by("record_id")
    for index, result in enumerate(r for i, r in enumerate(results) if i % 3 != 1 and r.span is not None):
        score_record(span=result.span, config=judge.config, value=_reviewer_label(index, result), author=reviewer)
        labelled += 1
    results_score(version=judge, experiment=experiment, score=demo_judge_rubric(judge.config))
    return labelled


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
    judge = scorer_create(
        project=project, name="helpfulness judge", kind="llm_judge", config=configs["judge: helpful"],
        definition={"rubric": "Is the answer helpful and correct for the customer?", "model": "", "parameters": {}},
        description="In the demo, its scores come from a local rubric standing in for the model (demo data).",
    ).versions.get()  # fmt: skip
    reviewer = demo_member(project=project, username="demo-reviewer", role=Role.REVIEWER)
    labels = 0
    for name, candidate, model in (("baseline prompt", False, "gpt-4o-mini"), ("concise prompt", True, "gpt-4.1")):
        experiment = experiment_create(
            project=project, dataset=dataset, version="baseline", name=name,
            description="Demo run of the support assistant.", metadata={"model": model, "prompt": name},
        )  # fmt: skip
        experiment_results_upsert(experiment=experiment, items=_outputs(records, candidate=candidate))
        for scorer in (exact, contains):
            results_score(version=scorer.versions.get(), experiment=experiment)
        labels += _judge_demo_scores(experiment, judge, reviewer)
    stdout.write(
        f"  demo experiments: 2 on {dataset.name} ({len(records)} records each), scored by 2 scorers and a judge "
        f"(demo rubric), {labels} reviewer label(s) for judge alignment"
    )
