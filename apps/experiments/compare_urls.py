from django.urls import path

from .compare_api import ExperimentCompareView, JudgeVersionFromLabelsView, ScorerAlignmentView

urlpatterns = [
    path("experiments/compare/", ExperimentCompareView.as_view(), name="experiments-compare"),
    path("scorers/<int:scorer_pk>/alignment/", ScorerAlignmentView.as_view(), name="scorer-alignment"),
    path(
        "scorers/<int:scorer_pk>/versions/from-labels/",
        JudgeVersionFromLabelsView.as_view(),
        name="scorer-version-from-labels",
    ),
]
