from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import SpanViewSet, TraceViewSet
from .ingest_api import IngestView

read_router = SimpleRouter()
read_router.register("traces", TraceViewSet, basename="trace")
read_router.register("spans", SpanViewSet, basename="span")

urlpatterns: list = [
    path("ingest/", IngestView.as_view(), name="ingest"),
]
urlpatterns += read_router.urls
