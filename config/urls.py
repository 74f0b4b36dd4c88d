from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

api_v1 = [
    path("", include("apps.projects.urls")),
    path("", include("apps.traces.urls")),
    path("", include("apps.reviews.urls")),
    path("", include("apps.queues.urls")),
    path("", include("apps.datasets.urls")),
    # before the experiments router (exp-core), so `experiments/compare/` is not read as an experiment id
    path("", include("apps.experiments.compare_urls")),
    path("", include("apps.exports.urls")),
    path("", include("apps.views.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.experiments.urls")),
    path("", include("apps.retention.urls")),
    path("", include("apps.experiments.scorers_urls")),
]

urlpatterns = [
    # New members choose their password through the one-time link `member_add` makes (Django's views and
    # the admin's templates); the names are Django's, so its views find each other.
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(extra_context={"site_header": "Assay"}),
        name="password_reset_confirm",
    ),
    path(
        "accounts/set-password/done/",
        auth_views.PasswordResetCompleteView.as_view(extra_context={"site_header": "Assay"}),
        name="password_reset_complete",
    ),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    path("share/", include("apps.views.share_urls")),
    path("", include("apps.traces.otlp_urls")),
]

handler404 = "apps.core.error_views.not_found"
