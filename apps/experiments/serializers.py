"""What the experiments API answers and takes (the bulk results body is read by the view itself)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import RESULT_FIELDS, Experiment, ExperimentResult


class ExperimentSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    dataset = serializers.PrimaryKeyRelatedField(read_only=True)
    dataset_name = serializers.CharField(source="dataset.name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Experiment
        fields = [
            "id",
            "project",
            "dataset",
            "dataset_name",
            "version_number",
            "version_ref",
            "name",
            "description",
            "metadata",
            "status",
            "record_count",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}]})
class VersionRefField(serializers.Field):
    """A version number, or a tag such as `prod`."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError("Give a version number or a tag name.")
        return data


class ExperimentCreateSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, help_text="Project slug (session users of several projects).")
    dataset = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    version = VersionRefField(required=False, allow_null=True, help_text="A number or a tag; default: the latest.")
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    metadata = serializers.DictField(required=False, default=dict, help_text="Model, prompt, parameters, revision…")


class ExperimentResultSerializer(serializers.ModelSerializer):
    span_id = serializers.CharField(source="span.span_id", read_only=True, allow_null=True, default=None)

    class Meta:
        model = ExperimentResult
        fields = [*RESULT_FIELDS, "trace_id", "span_id", "created_at", "updated_at"]
        read_only_fields = fields


class ResultItemSerializer(serializers.Serializer):
    """One posted result (documentation: the view validates items itself, one error list per item)."""

    record_id = serializers.CharField(max_length=255)
    output = serializers.JSONField(required=False, allow_null=True)
    error = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    latency_ms = serializers.FloatField(required=False, min_value=0, allow_null=True)
    input_tokens = serializers.IntegerField(required=False, min_value=0, allow_null=True)
    output_tokens = serializers.IntegerField(required=False, min_value=0, allow_null=True)
    total_tokens = serializers.IntegerField(required=False, min_value=0, allow_null=True)
    cost = serializers.FloatField(required=False, min_value=0, allow_null=True)
    metadata = serializers.DictField(required=False)
    trace_id = serializers.CharField(required=False, max_length=128, help_text="Link the run's existing trace.")
    span_id = serializers.CharField(required=False, max_length=128, help_text="Link the run's existing span.")


class ResultsBodySerializer(serializers.Serializer):
    results = ResultItemSerializer(many=True)


class RejectedResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the result in the batch.")
    fields = serializers.DictField(help_text="Each field at fault and its messages.")


class ResultsAnswerSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    rejected = RejectedResultSerializer(many=True)
