"""Datasets API: adding spans by filter or from feedback, generated records, and the jobs that add many spans."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError, not_found
from apps.core.schema import llm_errors
from apps.projects.api_scope import request_projects

from . import selectors
from .api import DatasetScopedView, body_dict
from .models import Dataset, DatasetJob
from .serializers import SPANS_RESPONSES, WRITE_RESPONSES, JobSerializer, version_payload
from .services.jobs import dataset_spans_add_or_start
from .services.spans import feedback_spans


class AddSpansSerializer(serializers.Serializer):
    filters = serializers.DictField(required=False, help_text="SpanFilter parameters (as GET /api/v1/spans/)")
    span_ids = serializers.ListField(child=serializers.CharField(), required=False, max_length=10_000)
    mapping = serializers.DictField(required=False)
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


def _run_or_queue(request, dataset: Dataset, spans, *, kind: str, mapping, message: str) -> Response:
    """Add the spans (now, or as a job: the service decides): 201/200 with the version, 202 with the job."""
    outcome = dataset_spans_add_or_start(
        dataset=dataset,
        kind=kind,
        span_pks=list(spans.values_list("pk", flat=True)),
        mapping=mapping,
        author=audit_actor(request),
        message=message,
    )
    if isinstance(outcome, DatasetJob):
        return Response({"job": JobSerializer(outcome).data}, status=status.HTTP_202_ACCEPTED)
    dataset.refresh_from_db()
    payload = version_payload(outcome.version, dataset, created=True)
    payload.update({"spans": outcome.spans, "skipped_span_ids": outcome.skipped[:100]})
    return Response(payload, status=status.HTTP_201_CREATED if outcome.version else status.HTTP_200_OK)


class AddSpansView(DatasetScopedView):
    @extend_schema(request=AddSpansSerializer, responses=SPANS_RESPONSES)
    def post(self, request, pk):
        from apps.traces.selectors import span_list

        dataset = self.get_dataset(write=True)
        body = AddSpansSerializer(data=body_dict(request))
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if not data.get("filters") and not data.get("span_ids"):
            raise ApplicationError(
                "Choose spans with `filters` or `span_ids`.", fields={"filters": ["Give filters or span_ids."]}
            )
        spans = span_list(projects=[dataset.project], filters=data.get("filters") or {})
        if data.get("span_ids"):
            spans = spans.filter(span_id__in=data["span_ids"])
        return _run_or_queue(
            request,
            dataset,
            spans,
            kind=DatasetJob.Kind.ADD_SPANS,
            mapping=data.get("mapping") or {},
            message=data.get("message") or "",
        )


class FromFeedbackSerializer(serializers.Serializer):
    filters = serializers.DictField(required=False)
    mapping = serializers.DictField(required=False)
    message = serializers.CharField(required=False, allow_blank=True, max_length=500)


class FromFeedbackView(DatasetScopedView):
    @extend_schema(request=FromFeedbackSerializer, responses=SPANS_RESPONSES)
    def post(self, request, pk):
        from apps.traces.selectors import span_list

        dataset = self.get_dataset(write=True)
        body = FromFeedbackSerializer(data=request.data if isinstance(request.data, dict) else {})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        spans = feedback_spans(project=dataset.project)
        if data.get("filters"):
            spans = spans.filter(pk__in=span_list(projects=[dataset.project], filters=data["filters"]).values("pk"))
        return _run_or_queue(
            request,
            dataset,
            spans,
            kind=DatasetJob.Kind.FROM_FEEDBACK,
            mapping=data.get("mapping") or {},
            message=data.get("message") or "",
        )


class GenerateSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=1, max_value=50)
    instructions = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    sample_size = serializers.IntegerField(required=False, min_value=0, max_value=20, default=5)


class GenerateView(DatasetScopedView):
    @extend_schema(request=GenerateSerializer, responses={**WRITE_RESPONSES, **llm_errors()})
    def post(self, request, pk):
        from .generation import dataset_generate_records

        dataset = self.get_dataset(write=True)
        body = GenerateSerializer(data=body_dict(request))
        body.is_valid(raise_exception=True)
        version = dataset_generate_records(dataset=dataset, author=audit_actor(request), **body.validated_data)
        dataset.refresh_from_db()
        return Response(
            version_payload(version, dataset, created=True),
            status=status.HTTP_201_CREATED if version else status.HTTP_200_OK,
        )


class JobDetailView(APIView):
    serializer_class = JobSerializer

    @extend_schema(responses=JobSerializer)
    def get(self, request, pk):
        job = selectors.dataset_jobs_for_projects(projects=request_projects(request)).filter(pk=pk).first()
        if job is None:
            raise not_found()
        return Response(JobSerializer(job).data)
