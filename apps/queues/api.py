"""`/api/v1/review-queues/`: queues, filling them, their next item, analytics (one item's endpoints: api_items.py)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.core.markdown import render_markdown
from apps.core.pagination import IdCursorPagination
from apps.core.parsing import is_id
from apps.core.schema import paginated, pagination_parameters
from apps.projects.api_scope import ProjectScopedViewMixin, request_require
from apps.projects.models import ProjectAPIKey
from apps.traces.models import Span, Trace

from . import analytics, selectors
from .models import ItemStatus, ReviewItem, ReviewQueue, RuleTarget
from .services.filling import review_items_add, review_items_add_by_filter, review_items_add_traces
from .services.queues import review_queue_create, review_queue_delete, review_queue_update
from .services.reviewing import review_item_next

User = get_user_model()
MAX_IDS = 10_000


def session_user(request):
    """The reviewer behind a request; API keys have none."""
    return None if isinstance(request.auth, ProjectAPIKey) else request.user


def _require(request, action: str, project) -> None:
    request_require(request, action, project)


class QueueInputSerializer(serializers.Serializer):
    project = serializers.CharField(required=False, help_text="Project slug (session users in several projects).")
    name = serializers.CharField(max_length=200)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=50_000)
    score_configs = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        max_length=100,
        help_text="Score config ids or names.",
    )
    assignees = serializers.ListField(
        child=serializers.JSONField(), required=False, max_length=500, help_text="User ids or usernames."
    )
    reviewers_per_item = serializers.IntegerField(required=False, min_value=1, max_value=20)
    blind = serializers.BooleanField(required=False)
    reservation_minutes = serializers.IntegerField(required=False, min_value=1, max_value=24 * 60)
    rule_enabled = serializers.BooleanField(required=False)
    rule_target = serializers.ChoiceField(choices=RuleTarget.choices, required=False)
    rule_filter = serializers.DictField(required=False)
    rule_sampling_rate = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)
    disagreement_threshold = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="Continuous scores disagree when max − min exceeds this share of the config's range.",
    )
    gold_question_rate = serializers.FloatField(required=False, min_value=0.0, max_value=1.0)


def _resolve_configs(project, refs: list) -> list[int]:
    from apps.reviews.models import ScoreConfig

    ids = [r for r in refs if isinstance(r, int) and not isinstance(r, bool)]
    names = [r for r in refs if isinstance(r, str)]
    if len(ids) + len(names) != len(refs):
        raise ApplicationError("Invalid score configs.", fields={"score_configs": ["Give ids or names."]})
    found = dict(
        ScoreConfig.objects.filter(project=project).filter(Q(pk__in=ids) | Q(name__in=names)).values_list("pk", "name")
    )
    missing = [str(i) for i in ids if i not in found] + [n for n in names if n not in found.values()]
    if missing:
        raise ApplicationError(
            "Unknown score config.", fields={"score_configs": [f"Unknown in this project: {', '.join(missing)}."]}
        )
    return [pk for pk, name in found.items() if pk in ids or name in names]


def resolve_users(refs: list, field: str) -> list[int]:
    ids = [r for r in refs if isinstance(r, int) and not isinstance(r, bool)]
    names = [r for r in refs if isinstance(r, str)]
    if len(ids) + len(names) != len(refs):
        raise ApplicationError("Invalid users.", fields={field: ["Give user ids or usernames."]})
    found = dict(User.objects.filter(Q(pk__in=ids) | Q(username__in=names)).values_list("pk", "username"))
    missing = [str(i) for i in ids if i not in found] + [n for n in names if n not in found.values()]
    if missing:
        raise ApplicationError("Unknown user.", fields={field: ["Every user must be a member of the project."]})
    return list(found)


def queue_data(queue: ReviewQueue, *, user=None) -> dict[str, Any]:
    return {
        "id": queue.pk,
        "project": queue.project.slug,
        "name": queue.name,
        "instructions": queue.instructions,
        "instructions_html": str(render_markdown(queue.instructions)),
        "score_configs": [{"id": c.pk, "name": c.name, "kind": c.kind} for c in queue.score_configs.all()],
        "assignees": [{"id": u.pk, "username": u.get_username()} for u in queue.assignees.all()],
        "reviewers_per_item": queue.reviewers_per_item,
        "blind": queue.blind,
        "reservation_minutes": queue.reservation_minutes,
        "rule_enabled": queue.rule_enabled,
        "rule_target": queue.rule_target,
        "rule_filter": queue.rule_filter,
        "rule_sampling_rate": queue.rule_sampling_rate,
        "disagreement_threshold": queue.disagreement_threshold,
        "gold_question_rate": queue.gold_question_rate,
        "progress": selectors.queue_progress(queue=queue, user=user, with_done=True),
        "created_at": queue.created_at,
        "updated_at": queue.updated_at,
    }


def user_ref(u) -> dict | None:
    """A user as the API names them: id and username (None stays None)."""
    return None if u is None else {"id": u.pk, "username": u.get_username()}


def item_data(item: ReviewItem, *, scores: list | None = None, detail: bool = False) -> dict[str, Any]:
    span = item.span
    data = {
        "id": item.pk,
        "queue": item.queue_id,
        "status": item.status,
        "span_id": span.span_id,
        "trace_id": span.trace.trace_id,
        "trace_name": span.trace.name,
        "span_name": span.name,
        "input_preview": span.trace.input_preview,
        "output_preview": span.trace.output_preview,
        "assignee": user_ref(item.assignee),
        "reserved_by": user_ref(item.reserved_by),
        "reserved_until": item.reserved_until,
        "submission_count": item.submission_count,
        "completed_at": item.completed_at,
        "created_at": item.created_at,
    }
    if scores is not None:
        data["scores"] = scores
    if detail:
        data["submissions"] = [
            {"reviewer": user_ref(s.reviewer), "submitted_at": s.submitted_at}
            for s in item.submissions.select_related("reviewer")
        ]
    return data


def item_queryset():
    """Review items with what `item_data` reads (span and trace, assignee, reserver, project)."""
    return ReviewItem.objects.select_related("span__trace", "assignee", "reserved_by", "queue__project")


class ItemCursorPagination(IdCursorPagination):
    ordering = "id"


class ReviewQueueViewSet(ProjectScopedViewMixin, viewsets.ViewSet):
    """Review queues of the caller's projects. Creating, changing and filling need the admin role."""

    write_action = "queue.manage"
    queryset = ReviewQueue.objects.none()  # for the schema: the id is an integer

    def _queues(self):
        return self.scoped(ReviewQueue.objects.select_related("project")).prefetch_related("score_configs", "assignees")

    def _queue(self, pk) -> ReviewQueue:
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            raise not_found()
        queue = self._queues().filter(pk=pk).first()
        if queue is None:
            raise not_found()
        return queue

    def _input(self, partial: bool) -> dict[str, Any]:
        serializer = QueueInputSerializer(data=self.request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @extend_schema(operation_id="review_queues_list", responses={200: dict})
    def list(self, request):
        queues = self._queues().order_by("id")
        project = request.query_params.get("project")
        if project:
            queues = queues.filter(project__slug=project)
        user = session_user(request)
        return Response({"results": [queue_data(q, user=user) for q in queues[:500]]})

    @extend_schema(request=QueueInputSerializer, responses={201: dict})
    def create(self, request):
        data = self._input(partial=False)
        project = self.write_project(data.pop("project", None))
        configs = _resolve_configs(project, data.pop("score_configs")) if "score_configs" in data else None
        assignees = resolve_users(data.pop("assignees"), "assignees") if "assignees" in data else None
        queue = review_queue_create(
            project=project,
            created_by=session_user(request),
            score_configs=configs,
            assignees=assignees,
            actor=audit_actor(request),
            **data,
        )
        return Response(queue_data(queue, user=session_user(request)), status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: dict})
    def retrieve(self, request, pk=None):
        return Response(queue_data(self._queue(pk), user=session_user(request)))

    @extend_schema(request=QueueInputSerializer, responses={200: dict})
    def partial_update(self, request, pk=None):
        queue = self._queue(pk)
        _require(request, "queue.manage", queue.project)
        data = self._input(partial=True)
        data.pop("project", None)
        configs = _resolve_configs(queue.project, data.pop("score_configs")) if "score_configs" in data else None
        assignees = resolve_users(data.pop("assignees"), "assignees") if "assignees" in data else None
        queue = review_queue_update(
            queue=queue, score_configs=configs, assignees=assignees, actor=audit_actor(request), **data
        )
        return Response(queue_data(self._queue(queue.pk), user=session_user(request)))

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        queue = self._queue(pk)
        _require(request, "queue.manage", queue.project)
        review_queue_delete(queue=queue, actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        methods=["GET"],
        operation_id="review_queue_items_list",
        parameters=[
            OpenApiParameter("status", str, enum=ItemStatus.values),
            OpenApiParameter("assignee", str, description="`me`, a user id or a username"),
            *pagination_parameters(ItemCursorPagination),
        ],
        responses={200: paginated(ItemCursorPagination)},
    )
    @extend_schema(
        methods=["POST"],
        request=dict,
        responses={200: dict},
        description=(
            "Add items by `span_ids` or `trace_ids` (a trace adds its root span), or by "
            "`span_filter` / `trace_filter` (the parameters of `GET /spans/` / `GET /traces/`). "
            "Spans already in the queue are never added twice."
        ),
    )
    @action(detail=True, methods=["get", "post"], url_path="items")
    def items(self, request, pk=None):
        queue = self._queue(pk)
        if request.method == "POST":
            return self._add(request, queue)
        qs = (
            ReviewItem.objects.filter(queue=queue)
            .select_related("span__trace", "assignee", "reserved_by")
            .defer(
                "span__input",
                "span__output",
                "span__expected",
                "span__metadata",
                "span__metrics",
                "span__annotation_metadata",
            )
        )
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in ItemStatus.values:
                raise ApplicationError(
                    "Invalid filter.", fields={"status": [f"Choose from {', '.join(ItemStatus.values)}."]}
                )
            qs = qs.filter(status=wanted)
        assignee = request.query_params.get("assignee")
        if assignee:
            if assignee == "me":
                user = session_user(request)
                qs = qs.filter(assignee=user) if user else qs.none()
            elif is_id(assignee):
                qs = qs.filter(assignee_id=int(assignee))
            else:
                qs = qs.filter(assignee__username=assignee)
        paginator = ItemCursorPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        user = session_user(request)
        scores = selectors.item_scores(queue=queue, items=page, user=user)
        return paginator.get_paginated_response([item_data(i, scores=scores.get(i.pk, [])) for i in page])

    def _add(self, request, queue: ReviewQueue) -> Response:
        _require(request, "queue.manage", queue.project)
        body = request.data if isinstance(request.data, dict) else {}
        given = [k for k in ("span_ids", "trace_ids", "span_filter", "trace_filter") if k in body]
        if len(given) != 1:
            raise ApplicationError(
                "Give exactly one of span_ids, trace_ids, span_filter, trace_filter.",
                fields={"non_field_errors": ["Give exactly one of span_ids, trace_ids, span_filter, trace_filter."]},
            )
        key = given[0]
        value = body[key]
        if key in ("span_ids", "trace_ids"):
            if (
                not isinstance(value, list)
                or not value
                or len(value) > MAX_IDS
                or not all(isinstance(v, str) and v for v in value)
            ):
                raise ApplicationError("Invalid ids.", fields={key: [f"A list of 1 to {MAX_IDS} id strings."]})
            if key == "span_ids":
                spans = Span.objects.filter(project=queue.project, span_id__in=value)
                found = set(spans.values_list("span_id", flat=True))
                result = review_items_add(queue=queue, spans=spans, actor=audit_actor(request))
            else:
                traces = Trace.objects.filter(project=queue.project, trace_id__in=value)
                found = set(traces.values_list("trace_id", flat=True))
                result = review_items_add_traces(queue=queue, traces=traces, actor=audit_actor(request))
            result["not_found"] = sorted(set(value) - found)
        else:
            target = RuleTarget.SPANS if key == "span_filter" else RuleTarget.TRACES
            if not isinstance(value, dict):
                raise ApplicationError("Invalid filter.", fields={key: ["An object of filter parameters."]})
            result = review_items_add_by_filter(queue=queue, target=target, params=value, actor=audit_actor(request))
        queue.refresh_from_db()
        result["progress"] = selectors.queue_progress(queue=queue)
        return Response(result)

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="next")
    def next(self, request, pk=None):
        """Reserve the caller's next item (session users only); `{"item": null}` when none is left."""
        queue = self._queue(pk)
        user = session_user(request)
        item = review_item_next(queue=queue, user=user)
        if item is None:
            return Response({"item": None, "progress": selectors.queue_progress(queue=queue, user=user)})
        item = item_queryset().get(pk=item.pk)
        queue.refresh_from_db()
        scores = selectors.item_scores(queue=queue, items=[item], user=user)
        return Response(
            {
                "item": item_data(item, scores=scores.get(item.pk, [])),
                "progress": selectors.queue_progress(queue=queue, user=user),
            }
        )

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"], url_path="analytics")
    def analytics(self, request, pk=None):
        queue = self._queue(pk)
        data = analytics.queue_analytics(queue)
        for dist in data["distributions"]:
            chart = dist.pop("chart")
            dist["counts"] = [{"label": r["full_label"], "count": r["count"]} for r in chart["rows"]] if chart else []
        return Response(data)
