"""`GET /api/v1/experiments/compare/?ids=a,b[,c]` (compare runs), `GET /api/v1/scorers/{id}/alignment/`
(judge alignment) and `POST /api/v1/scorers/{id}/versions/from-labels/` (a judge version with few-shot
examples from human labels). Another project's ids answer 404 like missing ones."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ApplicationError, not_found
from apps.core.pagination import page_size_from_request
from apps.projects.api_scope import request_actor, request_projects, request_require

from . import alignment, compare, compare_records
from .alignment_examples import judge_version_from_labels
from .models import Experiment, Scorer


def _next_link(request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    query = request.query_params.copy()
    query["cursor"] = cursor
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def comparison_for(request_or_queryset, ids_raw: str | None) -> compare.Comparison:
    ids = compare.parse_ids(ids_raw)
    experiments = compare.experiments_for_compare(request_or_queryset, ids)
    return compare.comparison_get(experiments)


class ExperimentCompareView(APIView):
    @extend_schema(
        operation_id="experiments_compare",
        parameters=[
            OpenApiParameter("ids", str, required=True, description="Experiment ids, baseline first: a,b[,c]"),
            OpenApiParameter("config", str, description="A numeric score config (name), for `change`"),
            OpenApiParameter("change", str, enum=["regressed", "improved", "unchanged"]),
            OpenApiParameter("against", int, description="The compared experiment `change` is about (default: 2nd)"),
            OpenApiParameter("cursor", str),
            OpenApiParameter("page_size", int),
        ],
        responses={200: dict},
    )
    def get(self, request):
        """Per score config each experiment's mean with a bootstrap 95 % interval and the paired delta
        against the baseline with its interval, regression and improvement counts and the largest of
        each; then a keyset page of records side by side (outputs diffed against the baseline's)."""
        queryset = Experiment.objects.filter(project__in=request_projects(request))
        comparison = comparison_for(queryset, request.query_params.get("ids"))
        request_require(request, "project.view", comparison.baseline.project)
        size = page_size_from_request(
            request, param="page_size", default=compare_records.PAGE_SIZE, maximum=compare_records.MAX_PAGE_SIZE
        )
        data = compare_records.comparison_page(
            comparison, request.query_params, cursor=request.query_params.get("cursor"), size=size
        )
        data["next"] = _next_link(request, data.pop("next_cursor"))
        return Response(data)


def _scorer(request, pk, action: str) -> Scorer:
    """The scorer (404 like a missing one outside the user's projects), the role checked before the input."""
    scorers = Scorer.objects.filter(project__in=request_projects(request))
    found = scorers.filter(pk=pk).select_related("project").first()
    if found is None:
        raise not_found()
    request_require(request, action, found.project)
    return alignment.judge_scorer(scorers, pk)


class ScorerAlignmentView(APIView):
    @extend_schema(
        operation_id="scorer_alignment",
        parameters=[OpenApiParameter("human_config", str, description="Default: the config the judge writes")],
        responses={200: dict},
    )
    def get(self, request, scorer_pk: int):
        """Per judge version (newest first): Cohen's kappa (categorical, boolean) or Krippendorff's alpha
        (continuous) against gold or agreed human labels, with a bootstrap 95 % interval, the confusion
        matrix and the disagreements."""
        # Human labels of every reviewer, blind queues included: for leads, as the queues' quality figures.
        scorer = _scorer(request, scorer_pk, "queue.lead")
        return Response(alignment.scorer_alignment(scorer, human_config=request.query_params.get("human_config")))


class JudgeVersionFromLabelsView(APIView):
    @extend_schema(operation_id="scorer_version_from_labels", request=dict, responses={201: dict})
    def post(self, request, scorer_pk: int):
        """`{"human_config": name?, "max_examples": n?}`: a new version copying the newest definition with
        `examples` from gold or agreed human labels, balanced across labels."""
        scorer = _scorer(request, scorer_pk, "score_config.manage")
        body = request.data if isinstance(request.data, dict) else None
        if body is None or set(body) - {"human_config", "max_examples"}:
            raise ApplicationError("Unknown fields.", fields={"body": ["Give human_config and/or max_examples."]})
        if not isinstance(body.get("human_config") or "", str):
            raise ApplicationError("Invalid human_config.", fields={"human_config": ["A score config name."]})
        version = judge_version_from_labels(
            actor=request_actor(request),
            scorer=scorer,
            human_config=body.get("human_config"),
            max_examples=body.get("max_examples"),
        )
        return Response(
            {
                "id": version.pk,
                "number": version.number,
                "definition": version.definition,
                "definition_hash": version.definition_hash,
                "note": version.note,
            },
            status=status.HTTP_201_CREATED,
        )
