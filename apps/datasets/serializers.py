"""The datasets API's serializers and response shapes (apps/datasets/api*.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from .models import Dataset, DatasetJob, DatasetRecord, DatasetVersion, DatasetVersionTag

# ---------------------------------------------------------------- serializers


class DatasetSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    record_count = serializers.IntegerField(read_only=True, default=0)
    version_tags = serializers.SerializerMethodField()

    class Meta:
        model = Dataset
        fields = [
            "id",
            "project",
            "name",
            "description",
            "latest_version",
            "record_count",
            "version_tags",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["latest_version", "created_at", "updated_at"]

    def get_version_tags(self, obj) -> dict[str, int]:
        return {t.name: t.version.number for t in obj.version_tags.all()}


class DatasetWriteSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False)
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class DatasetUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class RecordSerializer(serializers.ModelSerializer):
    source_span_id = serializers.CharField(source="source_span_ref", read_only=True, allow_null=True, default=None)

    class Meta:
        model = DatasetRecord
        fields = [
            "record_id",
            "input",
            "expected",
            "metadata",
            "tags",
            "splits",
            "origin",
            "source_span_id",
            "version_from",
            "version_to",
            "created_at",
        ]


class VersionSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    tags = serializers.SerializerMethodField()

    class Meta:
        model = DatasetVersion
        fields = [
            "number",
            "message",
            "author",
            "created_at",
            "added",
            "updated",
            "removed",
            "record_count",
            "restored_from",
            "tags",
        ]

    def get_tags(self, obj) -> list[str]:
        return sorted(t.name for t in obj.tags.all())


class VersionTagSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number")
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = DatasetVersionTag
        fields = ["name", "version", "updated_by", "updated_at"]


class JobSerializer(serializers.ModelSerializer):
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    version = serializers.IntegerField(source="version.number", allow_null=True, default=None)
    progress = serializers.FloatField(read_only=True)
    result = serializers.SerializerMethodField()

    class Meta:
        model = DatasetJob
        fields = [
            "id",
            "dataset",
            "kind",
            "status",
            "total",
            "done",
            "progress",
            "error",
            "version",
            "result",
            "created_at",
            "finished_at",
        ]

    def get_result(self, obj) -> dict:
        return (obj.params or {}).get("result") or {}


class VersionWriteResultSerializer(serializers.Serializer):
    """What a write answers: the version it made (201), or the unchanged latest one (200)."""

    created = serializers.BooleanField()
    version = serializers.IntegerField(allow_null=True)
    added = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()
    record_count = serializers.IntegerField(required=False, help_text="Present when a version was made.")


class SpansAddedResultSerializer(VersionWriteResultSerializer):
    spans = serializers.IntegerField(help_text="Spans selected.")
    skipped_span_ids = serializers.ListField(child=serializers.CharField(), help_text="At most 100.")


class JobQueuedSerializer(serializers.Serializer):
    job = JobSerializer()


WRITE_RESPONSES = {
    201: VersionWriteResultSerializer,
    200: VersionWriteResultSerializer,
}
SPANS_RESPONSES = {
    201: SpansAddedResultSerializer,
    200: SpansAddedResultSerializer,
    202: OpenApiResponse(JobQueuedSerializer, description="Many spans: a job adds them; poll /dataset-jobs/{id}/."),
}


def version_payload(version: DatasetVersion | None, dataset: Dataset, *, created: bool) -> dict:
    if version is None:
        latest = DatasetVersion.objects.filter(dataset=dataset, number=dataset.latest_version).first()
        return {"created": False, "version": latest.number if latest else None, "added": 0, "updated": 0, "removed": 0}
    return {
        "created": created,
        "version": version.number,
        "added": version.added,
        "updated": version.updated,
        "removed": version.removed,
        "record_count": version.record_count,
    }
