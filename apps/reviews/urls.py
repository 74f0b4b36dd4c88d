from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("score-configs", api.ScoreConfigViewSet, basename="score-config")
router.register("scores", api.ScoreViewSet, basename="score")

urlpatterns = [
    path("feedback/", api.FeedbackView.as_view(), name="feedback"),
    path("spans/<str:span_id>/annotations/", api.SpanAnnotationsView.as_view(), name="span-annotations"),
    path("traces/<str:trace_id>/annotations/", api.TraceAnnotationsView.as_view(), name="trace-annotations"),
    *router.urls,
]
