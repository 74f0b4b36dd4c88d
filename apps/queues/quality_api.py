"""`/api/v1/review-queues/{id}/reviewers/` (reviewer quality) and `/gold-questions/` (known answers).

Leads (curators and admins, keys with `write`) see every reviewer, the pairwise agreement matrix and
the gold accuracy; anyone else sees only their own time per item and skip rate, and another
reviewer's figures answer like a missing reviewer. Gold questions and their answers are for leads.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.projects.api_scope import request_actor, request_projects, request_require
from apps.projects.models import ProjectAPIKey

from . import gold_questions, quality
from .models import ReviewQueue


def _queue(request, queue_pk) -> ReviewQueue:
    queue = (
        ReviewQueue.objects.filter(pk=queue_pk, project__in=request_projects(request)).select_related("project").first()
    )
    if queue is None:
        raise not_found()
    return queue


def _session_user(request):
    return None if isinstance(request.auth, ProjectAPIKey) else request.user


def _own_view(data: dict) -> dict:
    """A non-lead's own row: no gold accuracy (watching it after each item would tell gold questions)."""
    for row in data["reviewers"]:
        row.pop("gold", None)
    return data


class QueueReviewersView(APIView):
    @extend_schema(operation_id="review_queue_reviewers_list", responses={200: dict})
    def get(self, request, queue_pk: int):
        """Per reviewer: submitted, skipped, skip rate, median seconds per item (open to submit, measured
        on the server), gold accuracy per config; and per config the pairwise agreement matrix."""
        queue = _queue(request, queue_pk)
        if quality.may_see_everyone(queue=queue, actor=request_actor(request)):
            return Response(quality.queue_quality(queue))
        user = _session_user(request)
        if user is None:
            return Response({"reviewers": []})
        return Response(_own_view(quality.queue_quality(queue, only_reviewer_id=user.pk, with_matrix=False)))


class QueueReviewerItemsView(APIView):
    @extend_schema(
        operation_id="review_queue_reviewer_items",
        parameters=[OpenApiParameter("gold", bool, description="Only gold questions (leads)")],
        responses={200: dict},
    )
    def get(self, request, queue_pk: int, reviewer_pk: int):
        """One reviewer's figures and latest items (their value per config; for leads beside the gold)."""
        queue = _queue(request, queue_pk)
        lead = quality.may_see_everyone(queue=queue, actor=request_actor(request))
        user = _session_user(request)
        if not lead and (user is None or user.pk != int(reviewer_pk)):
            raise not_found("Reviewer not found.")
        data = quality.queue_quality(queue, only_reviewer_id=int(reviewer_pk), with_matrix=False)
        if not data["reviewers"]:
            raise not_found("Reviewer not found.")
        items = quality.reviewer_items(
            queue, reviewer_id=int(reviewer_pk), gold_only=lead and request.query_params.get("gold") in ("1", "true")
        )
        if not lead:
            data = _own_view(data)
            items = [quality.without_gold(row) for row in items]
        return Response({"reviewer": data["reviewers"][0], "items": items})


class QueueGoldQuestionsView(APIView):
    @extend_schema(operation_id="review_queue_gold_questions_list", responses={200: dict})
    def get(self, request, queue_pk: int):
        """The queue's gold questions and their known answers (leads: `queue.gold_questions`)."""
        queue = _queue(request, queue_pk)
        request_require(request, "queue.gold_questions", queue.project)
        return Response({"results": gold_questions.gold_questions_of(queue=queue)})

    @extend_schema(operation_id="review_queue_gold_questions_import", request=dict, responses={201: dict})
    def post(self, request, queue_pk: int):
        """Import gold questions: `{"questions": [{"span_id": …, "answers": {config name: value}}]}`, values
        validated like scores; spans not in the queue are added to it."""
        queue = _queue(request, queue_pk)
        request_require(request, "queue.gold_questions", queue.project)
        body = request.data if isinstance(request.data, dict) else None
        if body is None or set(body) != {"questions"}:
            raise ApplicationError("Give only questions.", fields={"questions": ['{"questions": [...]}']})
        result = gold_questions.gold_questions_import(
            queue=queue, questions=body["questions"], actor=audit_actor(request)
        )
        return Response(result, status=status.HTTP_201_CREATED)
