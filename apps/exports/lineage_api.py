"""`GET /api/v1/datasets/{id}/records/{record_id}/lineage/`: one record's lineage, as the export writes it."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.exceptions import not_found
from apps.datasets.api import DatasetScopedView
from apps.datasets.selectors import dataset_records_at_version, dataset_version_resolve
from apps.projects.api_scope import request_actor
from apps.projects.models import ProjectAPIKey

from .lineage import REVISION_FIELDS, dataset_record_lineage


class LineageReviewSerializer(serializers.Serializer):
    config = serializers.CharField()
    config_id = serializers.IntegerField()
    config_hash = serializers.CharField(help_text="sha256 of the score config's definition.")
    reviewer = serializers.CharField(allow_null=True)
    source = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    label = serializers.CharField(allow_null=True)
    labels = serializers.ListField(child=serializers.CharField(), allow_null=True)
    text = serializers.CharField(allow_null=True)
    comment = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    after_revision = serializers.BooleanField(help_text="Changed after this revision was written.")


class LineageRevisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version_from = serializers.IntegerField()
    version_to = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()


class LineageSourceSerializer(serializers.Serializer):
    span_id = serializers.CharField()
    trace_id = serializers.CharField()


class LineageCorrectionSerializer(serializers.Serializer):
    author = serializers.CharField(allow_null=True)
    source = serializers.CharField()
    created_at = serializers.DateTimeField()


class RecordLineageSerializer(serializers.Serializer):
    record_id = serializers.CharField()
    dataset_id = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)
    revision = LineageRevisionSerializer()
    origin = serializers.CharField()
    source = LineageSourceSerializer(allow_null=True)
    reviews = LineageReviewSerializer(many=True)
    corrections = LineageCorrectionSerializer(many=True)
    adjudication = serializers.ListField(
        child=serializers.DictField(),
        allow_null=True,
        help_text="Adjudicated (gold) values of the source span's review items; null when none.",
    )
    feedback = LineageReviewSerializer(many=True, help_text="End-user scores on the source span.")


class RecordLineageView(DatasetScopedView):
    @extend_schema(
        operation_id="datasets_records_lineage",
        parameters=[OpenApiParameter("version", int), OpenApiParameter("tag", str)],
        responses=RecordLineageSerializer,
    )
    def get(self, request, pk, record_id):
        dataset = self.get_dataset()
        params = request.query_params
        number = dataset.latest_version or None
        if params.get("version") not in (None, "") or params.get("tag"):
            number = dataset_version_resolve(
                dataset=dataset, version=params.get("version") or None, tag=params.get("tag") or None
            ).number
        revision = (
            dataset_records_at_version(dataset=dataset, version=number)
            .filter(record_id=record_id)
            .values(*REVISION_FIELDS)
            .first()
        )
        if revision is None:
            raise not_found("Record not found.")
        visibility = None
        actor = request_actor(request)
        if not isinstance(actor, ProjectAPIKey) and revision["source_span_id"] is not None:
            from apps.reviews.visibility import annotations_visible_to

            visibility = annotations_visible_to(actor, [revision["source_span_id"]])
        entry = dataset_record_lineage(dataset=dataset, version=number, revisions=[revision], visibility=visibility)[0]
        return Response(entry)
