"""Demo data: score configs of every kind and human, API, automated and end-user annotations."""

from __future__ import annotations

import random

from apps.projects.models import Role
from apps.projects.services import demo_member
from apps.traces.models import Span

from .models import ScoreConfig, ScoreSource
from .services.annotations import annotations_submit
from .services.feedback import feedback_apply
from .services.score_configs import score_config_create
from .services.scores import score_record

DEMO_CONFIGS = [
    {
        "name": "helpfulness",
        "kind": "continuous",
        "order": 1,
        "min_value": 0.0,
        "max_value": 1.0,
        "description": "How much the answer **helped** the user, from useless (0%) to fully solved (100%).",
    },
    {
        "name": "correctness",
        "kind": "categorical",
        "order": 2,
        "options": [
            {"label": "correct", "value": 1},
            {"label": "partially", "value": 0.5},
            {"label": "incorrect", "value": 0},
        ],
        "description": "Is the answer factually right according to the policy documents?",
    },
    {
        "name": "thumbs",
        "kind": "boolean",
        "order": 3,
        "description": "End-user thumbs up / down from the support widget.",
    },
    {
        "name": "issues",
        "kind": "categorical",
        "order": 4,
        "multi_select": True,
        "options": [
            {"label": "hallucination", "value": 0},
            {"label": "tone", "value": 0.5},
            {"label": "too long", "value": 0.75},
        ],
        "description": "Every problem you see (pick any).",
    },
    {
        "name": "notes",
        "kind": "text",
        "order": 5,
        "max_length": 500,
        "description": "Anything a curator should know about this example.",
    },
]

COMMENTS = [
    "Cites the wrong policy section.",
    "Good answer, a bit long.",
    "Tone is fine.",
    "Should mention the 30-day window.",
    "Needs a link to the help page.",
]


def _output_text(span: Span) -> str:
    out = span.output
    if isinstance(out, str):
        return out
    if isinstance(out, dict) and isinstance(out.get("content"), str):
        return out["content"]
    return ""


def demo_load(*, project, traces, stdout) -> None:
    configs = {}
    for spec in DEMO_CONFIGS:
        existing = ScoreConfig.objects.filter(project=project, name=spec["name"]).first()
        configs[spec["name"]] = existing or score_config_create(project=project, **spec)
    reviewer = demo_member(project=project, username="demo-reviewer", role=Role.REVIEWER)

    rng = random.Random(20)
    roots = list(
        Span.objects.filter(project=project, parent_span_id="")
        .select_related("trace")
        .order_by("start_time", "id")[:400]
    )
    counts = {"end_user": 0, "negative_with_correction": 0, "human": 0, "api": 0, "automated": 0}
    for i, span in enumerate(roots):
        roll = rng.random()
        if roll < 0.35:
            counts["end_user"] += 1
            counts["negative_with_correction"] += _end_user_feedback(project, span, reviewer, rng, i)
        if 0.35 <= roll < 0.6:
            _reviewer_annotations(span, reviewer, rng)
            counts["human"] += 1
        if 0.6 <= roll < 0.7:
            _application_signals(project, span, rng, i)
            counts["api"] += 1
        if rng.random() < 0.2:
            score_record(
                span=span,
                config=configs["helpfulness"],
                value=round(rng.uniform(0, 1), 2),
                source=ScoreSource.AUTOMATED,
                comment="llm-judge v1",
            )
            counts["automated"] += 1
    stdout.write(
        f"  reviews: {len(configs)} score configs; annotations on {len(roots)} root spans: "
        + ", ".join(f"{k} {v}" for k, v in counts.items())
    )


def _end_user_feedback(project, span, reviewer, rng: random.Random, i: int) -> int:
    """A thumbs up or down from the end user; every other thumbs down corrected by the reviewer (returns 1)."""
    positive = rng.random() < 0.6
    data = {
        "span_id": span.span_id,
        "scores": {"thumbs": positive},
        "source": "end_user",
        "feedback_id": f"demo-{span.span_id}",
    }
    if not positive and rng.random() < 0.5:
        data["comment"] = "This did not answer my question."
    feedback_apply(project=project, data=data, source_default=ScoreSource.END_USER)
    if positive or i % 2:
        return 0
    text = _output_text(span)
    corrected = (text + " " if text else "") + "(Refunds are accepted within 30 days of delivery.)"
    annotations_submit(
        span=span,
        user=reviewer,
        expected=corrected,
        tags=["needs-fix"],
        scores={"correctness": "incorrect"},
        comment=rng.choice(COMMENTS),
    )
    return 1


def _reviewer_annotations(span, reviewer, rng: random.Random) -> None:
    annotations_submit(
        span=span,
        user=reviewer,
        scores={
            "helpfulness": round(rng.uniform(0.2, 1.0), 2),
            "correctness": rng.choice(["correct", "correct", "partially", "incorrect"]),
            **({"issues": rng.sample(["hallucination", "tone", "too long"], 2)} if rng.random() < 0.3 else {}),
        },
        tags=["reviewed"],
        comment=rng.choice(COMMENTS) if rng.random() < 0.5 else "",
        metadata={"reviewed_in": "demo"},
    )


def _application_signals(project, span, rng: random.Random, i: int) -> None:
    """An application posting its own signals through the API."""
    feedback_apply(
        project=project,
        data={
            "span_id": span.span_id,
            "scores": {"correctness": rng.choice(["correct", "partially"])},
            "tags": ["escalated"] if rng.random() < 0.3 else [],
            "metadata": {"ticket": f"T-{1000 + i}"},
        },
        source_default=ScoreSource.API,
    )
