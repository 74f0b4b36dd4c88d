"""`/api/v1/scorers/` (+ versions), `/api/v1/online-rules/`, `/api/v1/scoring-jobs/`, and per experiment
`/api/v1/experiments/{id}/score/` and `/api/v1/experiments/{id}/runs/` (create, list, retrieve, cancel).

Every queryset is the request's projects' (another project's id is a 404); writes ask the permission policy:
scorers and rules are configuration (`score_config.manage`), scoring and running are curation (`dataset.write`).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.core.exceptions import ApplicationError
from apps.projects.api_scope import (
    ProjectScopedReadViewSet,
    ProjectScopedViewMixin,
    project_slug_field,
    request_projects,
    request_require,
)
from apps.reviews.models import ScoreConfig

from .models import Experiment, OnlineRule, RunJob, Scorer, ScorerKind, ScorerVersion, ScoringJob
from .online import online_rule_create, online_rule_update
from .runner import run_job_cancel, run_job_create
from .scorers.versions import scorer_create, scorer_version_create
from .scoring import scoring_job_create

CONFIG_ACTION = "score_config.manage"
RUN_ACTION = "dataset.write"


def _bad(field: str, message: str, status_code: int = 400) -> ApplicationError:
    return ApplicationError(message, fields={field: [message]}, status=status_code)


def _config(project, pk) -> ScoreConfig:
    config = ScoreConfig.objects.filter(project=project, pk=pk).first() if pk is not None else None
    if config is None:
        raise _bad("config", "Unknown score config.")
    return config


class ScorerVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ScorerVersion
        fields = ("id", "number", "config", "definition", "definition_hash", "note", "created_at")
        read_only_fields = fields


class ScorerSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    latest = serializers.SerializerMethodField()

    class Meta:
        model = Scorer
        fields = ("id", "project", "name", "kind", "description", "is_archived", "latest_version", "latest")
        fields += ("created_at", "updated_at")
        read_only_fields = fields

    def get_latest(self, scorer) -> dict | None:
        version = next((v for v in scorer.versions.all() if v.number == scorer.latest_version), None)
        return ScorerVersionSerializer(version).data if version else None


class ScorerWriteSerializer(serializers.Serializer):
    project = project_slug_field()
    name = serializers.CharField(max_length=100)
    kind = serializers.ChoiceField(choices=ScorerKind.choices)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    config = serializers.IntegerField(help_text="The score config the scorer writes.")
    definition = serializers.JSONField()
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class VersionWriteSerializer(serializers.Serializer):
    definition = serializers.JSONField()
    config = serializers.IntegerField(required=False, help_text="Empty: the latest version's config.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class ScorerViewSet(ProjectScopedReadViewSet):
    serializer_class = ScorerSerializer
    write_action = CONFIG_ACTION
    filter_backends: list = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        return self.scoped(Scorer.objects.select_related("project").prefetch_related("versions"))

    @extend_schema(request=ScorerWriteSerializer, responses={201: ScorerSerializer})
    def create(self, request):
        values = self.validated(ScorerWriteSerializer)
        project = self.write_project(values.pop("project", None))
        values["config"] = _config(project, values["config"])
        scorer = scorer_create(project=project, created_by=request.user, **values)
        return Response(ScorerSerializer(self.get_queryset().get(pk=scorer.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], responses=ScorerVersionSerializer(many=True))
    @extend_schema(methods=["POST"], request=VersionWriteSerializer, responses={201: ScorerVersionSerializer})
    @action(detail=True, methods=["get", "post"], pagination_class=None)  # a scorer has few versions: one list
    def versions(self, request, pk=None):
        scorer = self.get_object()
        if request.method == "GET":
            return Response(ScorerVersionSerializer(scorer.versions.order_by("-number"), many=True).data)
        request_require(request, CONFIG_ACTION, scorer.project)
        data = VersionWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        config = _config(scorer.project, values.pop("config")) if "config" in values else None
        version = scorer_version_create(scorer=scorer, config=config, created_by=request.user, **values)
        return Response(ScorerVersionSerializer(version).data, status=status.HTTP_201_CREATED)


# ---------------------------------------------------------------- online rules


class OnlineRuleSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    scorer = serializers.PrimaryKeyRelatedField(queryset=Scorer.objects.none())
    scorer_version = serializers.PrimaryKeyRelatedField(
        queryset=ScorerVersion.objects.none(), required=False, allow_null=True, help_text="Empty: the latest."
    )

    class Meta:
        model = OnlineRule
        fields = ("id", "project", "scorer", "scorer_version", "sample_rate", "span_name", "span_type")
        fields += ("root_only", "is_active", "created_at")
        read_only_fields = ("id", "project", "created_at")

    def __init__(self, *args, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        if project is not None:  # ids of another project's scorers are unknown, as if they did not exist
            self.fields["scorer"].queryset = Scorer.objects.filter(project=project)
            self.fields["scorer_version"].queryset = ScorerVersion.objects.filter(scorer__project=project)


class OnlineRuleViewSet(ProjectScopedViewMixin, viewsets.ModelViewSet):
    serializer_class = OnlineRuleSerializer
    write_action = CONFIG_ACTION
    filter_backends: list = []
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        return self.scoped(OnlineRule.objects.select_related("project"))

    def _values(self, request, project, partial: bool) -> dict:
        data = OnlineRuleSerializer(data=request.data, partial=partial, project=project)
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    @extend_schema(request=OnlineRuleSerializer, responses={201: OnlineRuleSerializer})
    def create(self, request):
        project = self.write_project(request.data.get("project") if isinstance(request.data, dict) else None)
        rule = online_rule_create(project=project, **self._values(request, project, partial=False))
        return Response(OnlineRuleSerializer(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=OnlineRuleSerializer(partial=True), responses=OnlineRuleSerializer)
    def partial_update(self, request, pk=None):
        rule = self.get_object()
        request_require(request, CONFIG_ACTION, rule.project)
        rule = online_rule_update(rule=rule, **self._values(request, rule.project, partial=True))
        return Response(OnlineRuleSerializer(rule).data)

    def destroy(self, request, pk=None):
        rule = self.get_object()
        request_require(request, CONFIG_ACTION, rule.project)
        rule.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- scoring and running an experiment


def _experiment(request, experiment_id: int) -> Experiment:
    found = Experiment.objects.filter(pk=experiment_id, project__in=request_projects(request)).first()
    if found is None:
        raise ApplicationError("Experiment not found.", status=404)
    return found


class ScoringJobSerializer(serializers.ModelSerializer):
    scorer = serializers.IntegerField(source="scorer_version.scorer_id", read_only=True)
    version = serializers.IntegerField(source="scorer_version.number", read_only=True)

    class Meta:
        model = ScoringJob
        fields = ("id", "experiment", "scorer", "version", "scorer_version", "status", "total", "done", "failed")
        fields += ("error", "created_at", "finished_at")
        read_only_fields = fields


class ScoreRequestSerializer(serializers.Serializer):
    scorer = serializers.IntegerField()
    version = serializers.IntegerField(required=False, min_value=1, help_text="Empty: the latest version.")


class ScoringJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """`/api/v1/scoring-jobs/`: poll a scoring job's progress."""

    serializer_class = ScoringJobSerializer
    filter_backends: list = []
    lookup_value_regex = r"\d+"

    def get_queryset(self):
        projects = request_projects(self.request)
        return ScoringJob.objects.filter(experiment__project__in=projects).select_related("scorer_version")


class ExperimentScoreViewSet(viewsets.GenericViewSet):
    serializer_class = ScoringJobSerializer

    @extend_schema(request=ScoreRequestSerializer, responses={202: ScoringJobSerializer})
    def create(self, request, experiment_id: int):
        experiment = _experiment(request, experiment_id)
        request_require(request, RUN_ACTION, experiment.project)
        data = ScoreRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scorer = Scorer.objects.filter(project=experiment.project, pk=data.validated_data["scorer"]).first()
        if scorer is None:
            raise _bad("scorer", "Unknown scorer.")
        number = data.validated_data.get("version", scorer.latest_version)
        version = scorer.versions.select_related("scorer", "config").filter(number=number).first()
        if version is None:
            raise _bad("version", f"The scorer has no version {number}.")
        job = scoring_job_create(experiment=experiment, version=version, requested_by=request.user)
        return Response(ScoringJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class RunJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunJob
        fields = ("id", "experiment", "status", "params", "total", "done", "failed", "error", "cancel_requested")
        fields += ("created_at", "updated_at", "finished_at")
        read_only_fields = fields


class RunRequestSerializer(serializers.Serializer):
    messages = serializers.JSONField(help_text="[{role, content}] with {{input.…}} placeholders.")
    model = serializers.CharField(required=False, allow_blank=True, default="")
    parameters = serializers.JSONField(required=False, default=dict)
    concurrency = serializers.JSONField(required=False, default=4)
    retries = serializers.JSONField(required=False, default=2)


class ExperimentRunViewSet(viewsets.GenericViewSet):
    serializer_class = RunJobSerializer
    filter_backends: list = []

    def get_queryset(self):
        return RunJob.objects.filter(experiment=_experiment(self.request, self.kwargs["experiment_id"]))

    def list(self, request, experiment_id: int):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(RunJobSerializer(page, many=True).data)

    def retrieve(self, request, experiment_id: int, pk=None):
        return Response(RunJobSerializer(self.get_object()).data)

    @extend_schema(request=RunRequestSerializer, responses={202: RunJobSerializer})
    def create(self, request, experiment_id: int):
        experiment = _experiment(request, experiment_id)
        request_require(request, RUN_ACTION, experiment.project)
        data = RunRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        job = run_job_create(experiment=experiment, params=dict(data.validated_data), requested_by=request.user)
        return Response(RunJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=RunJobSerializer)
    def cancel(self, request, experiment_id: int, pk=None):
        job = self.get_object()
        request_require(request, RUN_ACTION, job.experiment.project)
        return Response(RunJobSerializer(run_job_cancel(job=job)).data)
