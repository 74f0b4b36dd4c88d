"""`/api/v1/review-queues/{queue_pk}/disagreements/` and `…/items/{item_pk}/adjudication/`: where reviewers
disagree, and an item's gold values (read: anyone who reads the project, as they may see it; write:
`queue.adjudicate`)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.core.parsing import is_id
from apps.projects.api_scope import request_actor, request_projects

from . import adjudication, disagreement, gold
from .models import ReviewItem, ReviewQueue

STATES = ("open", "adjudicated", "all")
MAX_LIMIT = 200


def _visible(entries, request):
    """Drop items whose span the caller is blinded on (their reviewers' values are hidden from them)."""
    from apps.reviews.visibility import annotations_visible_to

    visibility = annotations_visible_to(
        request.user if request_actor(request) is request.user else None, [e.item.span_id for e in entries]
    )
    return [e for e in entries if visibility.sees_others(e.item.span_id)]


class DisagreementsView(APIView):
    @extend_schema(
        operation_id="review_queue_disagreements_list",
        parameters=[
            OpenApiParameter(
                "state",
                str,
                enum=list(STATES),
                description="`open` (default: some disagreement has no gold yet), `adjudicated`, `all`",
            ),
            OpenApiParameter("after", int, description="Item id: the page after it (`next_after` of the last page)"),
            OpenApiParameter("limit", int, description=f"Items per page (1–{MAX_LIMIT}, default {disagreement.PAGE})"),
        ],
        responses={200: dict},
    )
    def get(self, request, queue_pk: int):
        """The queue's items whose reviewers disagree, each disagreeing config with every reviewer's value
        side by side and its gold value when adjudicated."""
        queue = ReviewQueue.objects.filter(pk=queue_pk, project__in=request_projects(request)).first()
        if queue is None:
            raise not_found()
        params = request.query_params
        state = params.get("state") or "open"
        fields = {}
        if state not in STATES:
            fields["state"] = [f"Choose from {', '.join(STATES)}."]
        after = params.get("after")
        if after not in (None, "") and not is_id(after):
            fields["after"] = ["An item id."]
        limit = params.get("limit") or str(disagreement.PAGE)
        if not is_id(limit) or not 1 <= int(limit) <= MAX_LIMIT:
            fields["limit"] = [f"A number from 1 to {MAX_LIMIT}."]
        if fields:
            raise ApplicationError("Invalid filter.", fields=fields)
        entries, next_after = disagreement.disagreements_for_queue(
            queue, state=state, after=int(after) if after else None, limit=int(limit)
        )
        return Response(
            {
                "results": [e.as_dict() for e in _visible(entries, request)],
                "next_after": next_after,
                "threshold": queue.disagreement_threshold,
            }
        )


class AdjudicationSerializer(serializers.Serializer):
    scores = serializers.DictField(
        required=False, help_text='Config name (or id) → {"from": reviewer id or username} | {"value": …} | null.'
    )
    expected = serializers.JSONField(
        required=False, allow_null=True, help_text='{"from": reviewer} | {"value": …} | null (clears it).'
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=adjudication.MAX_NOTE)


class AdjudicationView(APIView):
    def _item(self, queue_pk, item_pk) -> ReviewItem:
        item = (
            ReviewItem.objects.select_related("queue__project", "span__trace")
            .filter(pk=item_pk, queue_id=queue_pk, queue__project__in=request_projects(self.request))
            .first()
        )
        if item is None:
            raise not_found()
        return item

    def _answer(self, request, item: ReviewItem) -> dict:
        user = request.user if request_actor(request) is request.user else None
        rows = gold.item_gold_visible(item, user)
        entries = _visible(disagreement.item_disagreements(item.queue, [item]), request)
        return {
            "item": item.pk,
            "gold": rows,
            "history": gold.item_revisions(item) if rows else [],
            "comparison": entries[0].as_dict(all_rows=True)["configs"] if entries else [],
        }

    @extend_schema(operation_id="review_queue_item_adjudication_retrieve", responses={200: dict})
    def get(self, request, queue_pk: int, item_pk: int):
        """The item's gold values (who decided, when, from whom, why), their history, and each reviewer's
        value per config. Hidden (empty) from a reviewer blinded on the item."""
        return Response(self._answer(request, self._item(queue_pk, item_pk)))

    @extend_schema(request=AdjudicationSerializer, responses={200: dict})
    def post(self, request, queue_pk: int, item_pk: int):
        """Adjudicate: set (or clear) the item's gold per config and for its Expected (curators and admins)."""
        item = self._item(queue_pk, item_pk)
        serializer = AdjudicationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        kwargs = {"expected": data["expected"]} if "expected" in data else {}
        adjudication.item_adjudicate(
            actor=audit_actor(request),
            item=item,
            decisions=data.get("scores") or {},
            note=data.get("note") or "",
            **kwargs,
        )
        return Response(self._answer(request, item))
