"""Routes of scorers_api: included in config/urls.py's api_v1 list."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from .scorers_api import (
    ExperimentRunViewSet,
    ExperimentScoreViewSet,
    OnlineRuleViewSet,
    ScorerViewSet,
    ScoringJobViewSet,
)

router = SimpleRouter()
router.register("scorers", ScorerViewSet, basename="scorer")
router.register("online-rules", OnlineRuleViewSet, basename="online-rule")
router.register("scoring-jobs", ScoringJobViewSet, basename="scoring-job")

runs = ExperimentRunViewSet.as_view({"get": "list", "post": "create"})
run = ExperimentRunViewSet.as_view({"get": "retrieve"})
run_cancel = ExperimentRunViewSet.as_view({"post": "cancel"})

urlpatterns = [
    *router.urls,
    path(
        "experiments/<int:experiment_id>/score/",
        ExperimentScoreViewSet.as_view({"post": "create"}),
        name="experiment-score",
    ),
    path("experiments/<int:experiment_id>/runs/", runs, name="experiment-runs"),
    path("experiments/<int:experiment_id>/runs/<int:pk>/", run, name="experiment-run"),
    path("experiments/<int:experiment_id>/runs/<int:pk>/cancel/", run_cancel, name="experiment-run-cancel"),
]
