"""Online rules: score a sample of incoming production spans with a scorer.

The traces ingest service calls `online_rules_on_ingest` after each committed batch (an ingest hook). Only
traces with `origin = production` count. A span is in a rule's sample when the hash of its span id falls under
the rule's sample rate: the same span is always in or out (a retry of the batch does not score it twice), and
rules with the same rate sample the same spans, so two judges can be compared on them. Scoring runs in Celery
(sent on commit); a span that cannot be scored, or a queue that is down, is a ScorerFailure.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.db import transaction

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project
from apps.traces.models import Span, SpanType, Trace, TraceOrigin
from apps.traces.selectors import root_spans_of

from .models import OnlineRule, Scorer, ScorerFailure, ScorerVersion
from .scoring import spans_score

logger = logging.getLogger(__name__)
RULE_FIELDS = ("scorer", "scorer_version", "sample_rate", "span_name", "span_type", "root_only", "is_active")
SPANS_PER_TASK = 500


def span_sampled(span_id: str, sample_rate: float) -> bool:
    """Deterministic sampling: the first 8 bytes of sha256(span_id) as a fraction of 2**64, under the rate."""
    if sample_rate >= 1:
        return True
    fraction = int.from_bytes(hashlib.sha256(span_id.encode()).digest()[:8], "big") / 2**64
    return fraction < sample_rate


def online_rule_clean(project: Project, data: dict[str, Any], instance: OnlineRule | None) -> dict[str, Any]:
    values = {name: getattr(instance, name) for name in RULE_FIELDS} if instance else {}
    values.update({k: v for k, v in data.items() if k in RULE_FIELDS})
    fields: dict[str, list[str]] = {}
    scorer = values.get("scorer")
    if not isinstance(scorer, Scorer) or scorer.project_id != project.pk:
        fields["scorer"] = ["Unknown scorer."]
    version = values.get("scorer_version")
    if version is not None and (
        not isinstance(version, ScorerVersion) or version.scorer_id != getattr(scorer, "pk", None)
    ):
        fields["scorer_version"] = ["A version of this rule's scorer (empty: its latest)."]
    rate = values.get("sample_rate", 1.0)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
        fields["sample_rate"] = ["A number from 0 to 1."]
    if values.get("span_type") and values["span_type"] not in SpanType.values:
        fields["span_type"] = [f"One of {', '.join(sorted(SpanType.values))} (empty: any)."]
    if fields:
        raise ApplicationError("Invalid online rule.", fields=fields)
    return values


@transaction.atomic
def online_rule_create(*, project: Project, **data: Any) -> OnlineRule:
    return OnlineRule.objects.create(project=project, **online_rule_clean(project, data, None))


@transaction.atomic
def online_rule_update(*, rule: OnlineRule, **data: Any) -> OnlineRule:
    for name, value in online_rule_clean(rule.project, data, rule).items():
        setattr(rule, name, value)
    rule.save()
    return rule


def online_rule_version(rule: OnlineRule) -> ScorerVersion | None:
    if rule.scorer_version_id:
        return rule.scorer_version
    return ScorerVersion.objects.filter(scorer_id=rule.scorer_id, number=rule.scorer.latest_version).first()


def _matching_spans(rule: OnlineRule, traces) -> list[tuple[int, str]]:
    spans = root_spans_of(traces) if rule.root_only else Span.objects.filter(trace__in=traces)
    if rule.span_name:
        spans = spans.filter(name=rule.span_name)
    if rule.span_type:
        spans = spans.filter(type=rule.span_type)
    return list(spans.values_list("pk", "span_id"))


def online_rules_on_ingest(*, project: Project, trace_pks: list[int]) -> None:
    """The ingest hook: for each active rule, its sample of the batch's production spans, sent to scoring."""
    rules = list(
        OnlineRule.objects.filter(project=project, is_active=True, scorer__is_archived=False).select_related(
            "scorer", "scorer_version"
        )
    )
    if not rules:
        return
    traces = Trace.objects.filter(pk__in=trace_pks, origin=TraceOrigin.PRODUCTION)
    for rule in rules:
        version = online_rule_version(rule)
        if version is None:
            continue
        sampled = [pk for pk, span_id in _matching_spans(rule, traces) if span_sampled(span_id, rule.sample_rate)]
        for start in range(0, len(sampled), SPANS_PER_TASK):
            chunk = sampled[start : start + SPANS_PER_TASK]
            transaction.on_commit(
                lambda rule=rule, version=version, chunk=chunk: _dispatch(rule, version, chunk), robust=True
            )


def _dispatch(rule: OnlineRule, version: ScorerVersion, span_pks: list[int]) -> None:
    from .tasks import online_score_task

    try:
        online_score_task.apply_async(args=[rule.pk, version.pk, span_pks], retry=True, retry_policy={"max_retries": 2})
    except Exception as exc:  # the broker is down: the spans are not scored, and that is recorded
        logger.warning("Could not send online scoring of rule %s: %s", rule.pk, exc)
        ScorerFailure.objects.bulk_create(
            ScorerFailure(
                project_id=rule.project_id, scorer_version=version, span_id=pk,
                error="The job queue was unreachable; this span was not scored.",
            )
            for pk in span_pks
        )  # fmt: skip


def online_rule_score(*, rule_id: int, version_id: int, span_pks: list[int]) -> None:
    """The task's body: score these spans with the version (a rule deleted meanwhile scores nothing)."""
    rule = OnlineRule.objects.filter(pk=rule_id).first()
    version = ScorerVersion.objects.select_related("scorer", "config").filter(pk=version_id).first()
    if rule is None or version is None:
        return
    spans = Span.objects.filter(pk__in=span_pks, project_id=rule.project_id).only(
        "pk", "project_id", "input", "output", "expected"
    )
    spans_score(version=version, spans=spans)
