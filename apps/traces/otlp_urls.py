"""OTLP/HTTP lives at the collector's standard path, outside /api/v1/, so SDK exporters need only a base URL."""

from django.urls import path

from .ingest_api import OtlpTracesView

urlpatterns = [
    path("v1/traces", OtlpTracesView.as_view(), name="otlp-traces"),
]
