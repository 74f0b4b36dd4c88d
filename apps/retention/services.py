"""Retention runs: decide what goes (selectors.retention_plan), then delete it with a deletion strategy.

`retention_run` is the one path for beat, the admin's "Run now" and dry runs. The strategy is a
parameter (default `deletion.default_strategy()`: batched DELETE, or on PostgreSQL the partition drop
of `partition_drop`), so how a run is decided or logged is the same whichever deletes.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from apps.audit.services import audit_record, audit_snapshot
from apps.core.exceptions import ApplicationError
from apps.projects.permissions import require

from .deletion import DeletionTotals, default_strategy
from .models import RetentionPolicy, RetentionRun, RunStatus
from .selectors import plan_pinned_counts, retention_plan

logger = logging.getLogger(__name__)

# A run still "running" after this long is taken to have died with its worker.
STALE_RUN = timedelta(hours=6)


def _record_progress(run: RetentionRun, totals: DeletionTotals) -> None:
    run.traces_deleted, run.spans_deleted, run.batches = totals.traces, totals.spans, totals.batches
    RetentionRun.objects.filter(pk=run.pk).update(
        traces_deleted=totals.traces, spans_deleted=totals.spans, batches=totals.batches
    )


def _finish(run: RetentionRun, *, status: str, error: str = "") -> RetentionRun:
    run.status, run.error, run.finished_at = status, error[:5000], timezone.now()
    run.save()
    RetentionPolicy.objects.filter(pk=run.policy_id).update(last_run_at=run.finished_at)
    return run


def retention_run_execute(*, run: RetentionRun, strategy=None, batch_size: int | None = None) -> RetentionRun:
    """Carry out a logged run: plan, count what is kept and why, then (unless a dry run) delete.

    `strategy`: `deletion.default_strategy()` unless given (batched DELETE, or partition drop on PostgreSQL)."""
    strategy = strategy or default_strategy()
    run.status = RunStatus.RUNNING
    run.save(update_fields=["status"])
    try:
        plan = retention_plan(policy=run.policy)
        run.cutoff = plan.cutoff
        run.traces_expired = plan.expired.count()
        run.pinned_by_reason = plan_pinned_counts(plan)
        run.kept_pinned = run.traces_expired - plan.doomed.count()
        run.save()
        if not run.dry_run:
            totals = strategy(plan, batch_size=batch_size, on_batch=lambda t: _record_progress(run, t))
            _record_progress(run, totals)
    except Exception as exc:  # the run's log says what went wrong; batches already committed stay deleted
        logger.exception("retention run %s failed", run.pk)
        return _finish(run, status=RunStatus.FAILED, error=f"{type(exc).__name__}: {exc}")
    return _finish(run, status=RunStatus.SUCCEEDED)


def retention_runs_record_drop(*, month: str, counts: dict[int, tuple[int, int]]) -> None:
    """Log, in each other project's run log, what a month dropped whole took of its expired traces.

    `counts`: {project id: (traces, spans)}. A month shared by projects drops only when every span in it
    is expired by its own project's active policy (`partition_drop`); the run that drops it counts its
    own project's traces, and each other project gets a finished run here, so its log shows what went
    and when, without naming the project whose run it was. Called inside the drop's transaction."""
    now = timezone.now()
    label = month.rsplit("_p", 1)[-1].replace("_", "-")
    note = f"Month {label} dropped whole by a retention run: every span in it was past its project's policy."
    policies = RetentionPolicy.objects.filter(project_id__in=counts)
    RetentionRun.objects.bulk_create(
        [
            RetentionRun(
                policy=policy,
                project_id=policy.project_id,
                status=RunStatus.SUCCEEDED,
                finished_at=now,
                traces_expired=counts[policy.project_id][0],
                traces_deleted=counts[policy.project_id][0],
                spans_deleted=counts[policy.project_id][1],
                batches=1,
                note=note,
            )
            for policy in policies
        ]
    )


def retention_run(
    *,
    policy: RetentionPolicy,
    dry_run: bool = False,
    actor=None,
    strategy=None,
    batch_size: int | None = None,
) -> RetentionRun:
    """Run a policy now, in this process (the worker's task, tests, dry runs)."""
    run = RetentionRun.objects.create(policy=policy, project_id=policy.project_id, dry_run=dry_run, requested_by=actor)
    return retention_run_execute(run=run, strategy=strategy, batch_size=batch_size)


def retention_run_request(*, actor, policy: RetentionPolicy, dry_run: bool = False) -> RetentionRun:
    """ "Run now": log a queued run and hand it to a worker (the retention queue) once committed."""
    require(actor, "retention.run", policy.project_id)
    if _running(policy).exists():
        raise ApplicationError("A run of this policy is already in progress.", status=409)
    from .tasks import retention_run_task

    with transaction.atomic():
        run = RetentionRun.objects.create(
            policy=policy,
            project_id=policy.project_id,
            dry_run=dry_run,
            requested_by=_user(actor),
            status=RunStatus.QUEUED,
        )
        audit_record(actor=actor, action="retention.run", obj=policy, after={"run": run.pk, "dry_run": dry_run})
        transaction.on_commit(lambda: retention_run_task.delay(run.pk))
    return run


def _user(actor):
    """The user behind an actor (None for an API key or the system)."""
    return actor if isinstance(actor, get_user_model()) else None


def _running(policy: RetentionPolicy):
    return RetentionRun.objects.filter(
        policy=policy,
        status__in=[RunStatus.QUEUED, RunStatus.RUNNING],
        started_at__gt=timezone.now() - STALE_RUN,
    )


def retention_runs_due() -> list[int]:
    """Beat: a queued run for every active policy without one in progress, each its own task."""
    from .tasks import retention_run_task

    made = []
    for policy in RetentionPolicy.objects.filter(is_active=True).order_by("id"):
        if _running(policy).exists():
            continue
        run = RetentionRun.objects.create(policy=policy, project_id=policy.project_id, status=RunStatus.QUEUED)
        made.append(run.pk)
    for pk in made:
        retention_run_task.delay(pk)
    return made


def retention_policy_set(
    *, actor, project, max_age_days: int | None, max_traces: int | None, is_active: bool = True
) -> RetentionPolicy:
    """Create or change a project's policy (project admins; keys with the `admin` scope)."""
    require(actor, "retention.manage", project)
    with transaction.atomic():
        policy = RetentionPolicy.objects.select_for_update().filter(project=project).first()
        before = audit_snapshot(policy)
        if policy is None:
            policy = RetentionPolicy(project=project)
            policy.created_by = _user(actor)
        policy.max_age_days, policy.max_traces, policy.is_active = max_age_days, max_traces, is_active
        policy.full_clean(exclude=["project", "created_by"])
        policy.save()
        action = "retention_policy.create" if before is None else "retention_policy.update"
        audit_record(actor=actor, action=action, obj=policy, before=before, after=audit_snapshot(policy))
    return policy


def retention_policy_delete(*, actor, policy: RetentionPolicy) -> None:
    require(actor, "retention.manage", policy.project_id)
    with transaction.atomic():
        audit_record(actor=actor, action="retention_policy.delete", obj=policy, before=audit_snapshot(policy))
        policy.delete()
