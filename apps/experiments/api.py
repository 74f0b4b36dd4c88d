"""Experiments API: create, list and read experiments; post results in bulk and read them back.

Every URL under `/experiments/{id}/` loads the experiment within the request's projects, so another
project's experiment answers 404 exactly like a missing one. The bulk results body is read like an
ingest body (`apps.traces.ingest_api.ingest_body`: gzip, size limit; lone surrogates refused per
item), so one bad result is listed with its index and never costs the good ones.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError
from apps.core.pagination import IdCursorPagination
from apps.core.parsing import JSON_PARSE_DEPTH_MAX, SURROGATE_MESSAGE, RawBodyParser, is_id, json_parse
from apps.core.schema import error
from apps.datasets.models import Dataset
from apps.projects.api_scope import request_project, request_projects, request_require
from apps.traces.ingest import RejectedItem
from apps.traces.ingest_api import ingest_body

from . import selectors, services
from .models import ExperimentResult
from .serializers import (
    ExperimentCreateSerializer,
    ExperimentResultSerializer,
    ExperimentSerializer,
    ResultsAnswerSerializer,
    ResultsBodySerializer,
)

WRITE_ACTION = "experiment.write"
RESULTS_ACTION = "experiment.results"


class ExperimentCursorPagination(IdCursorPagination):
    ordering = "-id"


class ResultCursorPagination(IdCursorPagination):
    ordering = "record_id"
    page_size = 100
    max_page_size = 1000


def _user(request):
    return request.user if getattr(request.user, "is_authenticated", False) else None


class ExperimentListCreateView(generics.GenericAPIView):
    serializer_class = ExperimentSerializer
    pagination_class = ExperimentCursorPagination

    def get_queryset(self):
        qs = selectors.experiments_visible(projects=request_projects(self.request)).select_related("created_by")
        if project := self.request.query_params.get("project"):
            qs = qs.filter(project__slug=project)
        dataset = self.request.query_params.get("dataset")
        if dataset:
            if not is_id(dataset):
                raise ApplicationError("Invalid filters.", fields={"dataset": ["Give a dataset id."]})
            qs = qs.filter(dataset_id=int(dataset))
        return qs

    @extend_schema(
        operation_id="experiments_list",
        parameters=[OpenApiParameter("project", str), OpenApiParameter("dataset", int)],
        responses=ExperimentSerializer(many=True),
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ExperimentSerializer(page, many=True).data)

    @extend_schema(request=ExperimentCreateSerializer, responses={201: ExperimentSerializer})
    def post(self, request):
        if not isinstance(request.data, dict):
            raise ApplicationError("Send a JSON object.", fields={"non_field_errors": ["Must be an object."]})
        body = ExperimentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        project = request_project(request, slug=data.get("project"), action=WRITE_ACTION)
        dataset = Dataset.objects.filter(project=project, pk=data["dataset"]).first()
        if dataset is None:
            raise ApplicationError("Unknown dataset.", fields={"dataset": ["Not a dataset of this project."]})
        experiment = services.experiment_create(
            project=project,
            dataset=dataset,
            version=data.get("version"),
            name=data["name"],
            description=data.get("description", ""),
            metadata=data.get("metadata") or {},
            user=_user(request),
            actor=audit_actor(request),
        )
        return Response(ExperimentSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentDetailView(APIView):
    serializer_class = ExperimentSerializer

    @extend_schema(responses=ExperimentSerializer)
    def get(self, request, pk):
        return Response(ExperimentSerializer(selectors.experiment_get(projects=request_projects(request), pk=pk)).data)


def results_items(body: bytes) -> list[Any]:
    """The items of `{"results": [...]}` (or a bare list); an item holding a lone surrogate becomes a
    RejectedItem naming the field, everything else malformed is a 400 for the body."""
    payload, bad = json_parse(body, max_depth=JSON_PARSE_DEPTH_MAX, surrogates="collect")
    items = payload.get("results") if isinstance(payload, dict) else payload
    prefix = "results" if isinstance(payload, dict) else ""
    if not isinstance(items, list):
        raise ApplicationError('Send {"results": [...]}.', fields={"results": ["Expected a list."]})
    if not items:
        raise ApplicationError("The batch is empty.", fields={"results": ["Send at least one result."]})
    per_item: dict[int, dict[str, list[str]]] = {}
    for path in bad:
        head, _, rest = path.partition("]")
        index = head.removeprefix(prefix + "[")
        if not (head.startswith(prefix + "[") and index.isdigit()):
            raise ApplicationError(
                "Text with lone surrogates is not valid Unicode.", fields={path: [SURROGATE_MESSAGE]}
            )
        per_item.setdefault(int(index), {})[rest.lstrip(".").split(".")[0].split("[")[0] or "non_field_errors"] = [
            SURROGATE_MESSAGE
        ]
    for index, fields in per_item.items():
        items[index] = RejectedItem(fields)
    return items


class ExperimentResultsView(generics.GenericAPIView):
    """GET: the experiment's results in record_id order. POST: results in bulk, upserted by record_id."""

    required_scope = {"GET": "read", "POST": "ingest"}
    parser_classes = [RawBodyParser]
    queryset = ExperimentResult.objects.none()  # for the schema; reads go through the experiment
    serializer_class = ExperimentResultSerializer
    pagination_class = ResultCursorPagination

    def _experiment(self):
        return selectors.experiment_get(projects=request_projects(self.request), pk=self.kwargs["pk"])

    @extend_schema(operation_id="experiment_results_list", responses=ExperimentResultSerializer(many=True))
    def get(self, request, pk):
        results = selectors.experiment_results(experiment=self._experiment()).select_related("span")
        page = self.paginate_queryset(results)
        return self.get_paginated_response(ExperimentResultSerializer(page, many=True).data)

    @extend_schema(
        operation_id="experiment_results_post",
        request=ResultsBodySerializer,
        responses={
            200: OpenApiResponse(ResultsAnswerSerializer, description="Some or all results accepted."),
            400: error(400, "Malformed body, or every result rejected (`rejected` names each)."),
        },
    )
    def post(self, request, pk):
        experiment = self._experiment()
        request_require(request, RESULTS_ACTION, experiment.project)
        items = results_items(ingest_body(request))
        batch = services.experiment_results_upsert(experiment=experiment, items=items)
        answer = {"accepted": batch.accepted, "rejected": batch.rejected}
        if batch.accepted == 0:
            answer = {"error": "No result was accepted.", "fields": {"results": ["Every item was rejected."]}, **answer}
            return Response(answer, status=400)
        return Response(answer, status=200)
