"""Datasets API: versions, tags, diff and restore."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError
from apps.core.pagination import IdCursorPagination

from . import selectors
from .api import DatasetScopedView, body_dict
from .serializers import WRITE_RESPONSES, VersionSerializer, VersionTagSerializer, version_payload
from .services.versions import dataset_version_restore, dataset_version_tag_delete, dataset_version_tag_set

# ---------------------------------------------------------------- versions, tags, diff, restore


class VersionCursorPagination(IdCursorPagination):
    ordering = "-number"


class VersionListView(DatasetScopedView):
    serializer_class = VersionSerializer
    pagination_class = VersionCursorPagination

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, pk):
        dataset = self.get_dataset()
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.dataset_versions(dataset=dataset), request, view=self)
        return paginator.get_paginated_response(VersionSerializer(page, many=True).data)


class VersionDetailView(DatasetScopedView):
    serializer_class = VersionSerializer

    @extend_schema(responses=VersionSerializer)
    def get(self, request, pk, number):
        version = selectors.dataset_version_resolve(dataset=self.get_dataset(), version=number)
        return Response(VersionSerializer(version).data)


class VersionRestoreView(DatasetScopedView):
    serializer_class = VersionSerializer

    @extend_schema(request=None, responses=WRITE_RESPONSES)
    def post(self, request, pk, number):
        dataset = self.get_dataset(write=True)
        message = request.data.get("message", "") if isinstance(request.data, dict) else ""
        version = dataset_version_restore(
            dataset=dataset, version=number, author=audit_actor(request), message=str(message or "")
        )
        dataset.refresh_from_db()
        return Response(
            version_payload(version, dataset, created=True),
            status=status.HTTP_201_CREATED if version else status.HTTP_200_OK,
        )


class TagSetSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    version = serializers.IntegerField(min_value=1)


class TagListView(DatasetScopedView):
    serializer_class = VersionTagSerializer

    @extend_schema(responses=VersionTagSerializer(many=True))
    def get(self, request, pk):
        tags = selectors.dataset_version_tags(dataset=self.get_dataset())
        return Response(VersionTagSerializer(tags, many=True).data)

    @extend_schema(request=TagSetSerializer, responses=VersionTagSerializer)
    def post(self, request, pk):
        dataset = self.get_dataset(write=True)
        body = TagSetSerializer(data=body_dict(request))
        body.is_valid(raise_exception=True)
        tag = dataset_version_tag_set(dataset=dataset, author=audit_actor(request), **body.validated_data)
        return Response(VersionTagSerializer(tag).data)


class TagDetailView(DatasetScopedView):
    serializer_class = VersionTagSerializer

    @extend_schema(request=TagSetSerializer, responses=VersionTagSerializer)
    def put(self, request, pk, name):
        dataset = self.get_dataset(write=True)
        data = {**body_dict(request), "name": name}
        body = TagSetSerializer(data=data)
        body.is_valid(raise_exception=True)
        tag = dataset_version_tag_set(dataset=dataset, author=audit_actor(request), **body.validated_data)
        return Response(VersionTagSerializer(tag).data)

    def delete(self, request, pk, name):
        dataset_version_tag_delete(dataset=self.get_dataset(write=True), name=name, actor=audit_actor(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


DIFF_LIMIT = 1000


class DiffView(DatasetScopedView):
    @extend_schema(
        parameters=[OpenApiParameter("a", int, required=True), OpenApiParameter("b", int, required=True)],
        responses=dict,
    )
    def get(self, request, pk):
        dataset = self.get_dataset()
        numbers = {}
        for name in ("a", "b"):
            raw = request.query_params.get(name)
            try:
                numbers[name] = int(raw)
            except (TypeError, ValueError):
                raise ApplicationError("Name two versions.", fields={name: ["Enter a version number."]})
        diff = selectors.dataset_versions_diff(dataset=dataset, limit=DIFF_LIMIT, **numbers)
        return Response(
            {
                "a": diff.a,
                "b": diff.b,
                "counts": diff.counts,
                "truncated": diff.truncated,
                "added": diff.added,
                "removed": diff.removed,
                "changed": [{"record_id": c.record_id, "fields": c.fields} for c in diff.changed],
            }
        )
