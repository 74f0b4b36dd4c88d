"""`/api/v1/review-queues/<id>/items/<id>/`: one item, moving and assigning it, submitting and skipping it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.core.schema import error
from apps.projects.api_scope import request_projects

from . import selectors
from .api import item_data, item_queryset, resolve_users, session_user
from .models import ItemStatus, ReviewItem, ReviewQueue
from .services.board import review_item_assign, review_item_move
from .services.reviewing import review_item_next, review_item_skip, review_item_submit


class ItemPatchSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ItemStatus.choices, required=False)
    assignee = serializers.JSONField(
        required=False, allow_null=True, help_text="A user id or username; null unassigns."
    )


class SubmitSerializer(serializers.Serializer):
    scores = serializers.DictField(required=False)
    comment = serializers.CharField(required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    remove_tags = serializers.ListField(child=serializers.CharField(), required=False)
    expected = serializers.JSONField(required=False, allow_null=True)
    metadata = serializers.DictField(required=False)


class _ItemBase(APIView):
    def _item(self, queue_pk, item_pk) -> ReviewItem:
        projects = request_projects(self.request)
        item = item_queryset().filter(pk=item_pk, queue_id=queue_pk, queue__project__in=projects).first()
        if item is None:
            raise not_found()
        return item


class ReviewItemView(_ItemBase):
    """One item: GET; PATCH `status` (board moves, with rules) and/or `assignee` (curators)."""

    @extend_schema(operation_id="review_queue_item_retrieve", responses={200: dict})
    def get(self, request, queue_pk: int, item_pk: int):
        item = self._item(queue_pk, item_pk)
        user = session_user(request)
        scores = selectors.item_scores(queue=item.queue, items=[item], user=user)
        data = item_data(item, scores=scores.get(item.pk, []), detail=True)
        from apps.reviews.selectors import span_as_seen_by

        span = span_as_seen_by(request.user, item.span)  # blind queues: only the caller's own correction
        data["span"] = {
            "input": span.input,
            "output": span.output,
            "expected": span.expected,
            "metadata": span.metadata,
        }
        if span is not item.span:  # blinded: who else reviewed it stays hidden too
            data["submissions"] = [s for s in data["submissions"] if s["reviewer"]["id"] == request.user.pk]
        return Response(data)

    @extend_schema(request=ItemPatchSerializer, responses={200: dict})
    def patch(self, request, queue_pk: int, item_pk: int):
        item = self._item(queue_pk, item_pk)
        serializer = ItemPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if not data:
            raise ApplicationError("Nothing to change.", fields={"status": ["Give status and/or assignee."]})
        user = session_user(request)
        if "assignee" in data:
            ref = data["assignee"]
            assignee = None if ref is None else resolve_users([ref], "assignee")[0]
            review_item_assign(item=item, assignee=assignee, user=user, actor=audit_actor(request))
        if "status" in data:
            review_item_move(item=item, status=data["status"], user=user, actor=audit_actor(request))
        item = item_queryset().get(pk=item.pk)
        item.queue.refresh_from_db()
        scores = selectors.item_scores(queue=item.queue, items=[item], user=user)
        return Response(
            {**item_data(item, scores=scores.get(item.pk, [])), "counts": selectors.board_counts(queue=item.queue)}
        )


class ReviewItemSubmitView(_ItemBase):
    @extend_schema(
        request=SubmitSerializer,
        responses={200: dict, 409: error(409, "The item is complete, or reserved by another reviewer.")},
    )
    def post(self, request, queue_pk: int, item_pk: int):
        """Submit the caller's review of an item (the annotation fields of `/feedback/`), then answer
        with their next reserved item."""
        item = self._item(queue_pk, item_pk)
        serializer = SubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        user = session_user(request)
        expected_set = "expected" in data
        review_item_submit(item=item, user=user, expected_set=expected_set, **data)
        return Response(_next_payload(item.queue, user))


class ReviewItemSkipView(_ItemBase):
    @extend_schema(request=None, responses={200: dict})
    def post(self, request, queue_pk: int, item_pk: int):
        item = self._item(queue_pk, item_pk)
        user = session_user(request)
        review_item_skip(item=item, user=user)
        return Response(_next_payload(item.queue, user))


def _next_payload(queue: ReviewQueue, user) -> dict[str, Any]:
    nxt = review_item_next(queue=queue, user=user)
    queue.refresh_from_db()
    payload: dict[str, Any] = {"next": None, "progress": selectors.queue_progress(queue=queue, user=user)}
    if nxt is not None:
        nxt = item_queryset().get(pk=nxt.pk)
        scores = selectors.item_scores(queue=queue, items=[nxt], user=user)
        payload["next"] = item_data(nxt, scores=scores.get(nxt.pk, []))
    return payload
