from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("trace-views", api.TraceViewViewSet, basename="trace-view")
router.register("share-links", api.ShareLinkViewSet, basename="share-link")

urlpatterns = [
    # Fixed names first, so the router's `trace-views/<pk>/` does not swallow them.
    path("trace-views/schema/", api.SpecSchemaView.as_view(), name="trace-view-schema"),
    path("trace-views/templates/", api.GalleryView.as_view(), name="trace-view-templates"),
    path("trace-views/preview/", api.PreviewView.as_view(), name="trace-view-preview"),
    path("trace-views/generate/", api.GenerateView.as_view(), name="trace-view-generate"),
    path("", include(router.urls)),
]
