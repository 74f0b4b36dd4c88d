from django.urls import path

from apps.exports.lineage_api import RecordLineageView

from . import api, api_curation, api_versions

urlpatterns = [
    path("datasets/", api.DatasetListCreateView.as_view(), name="dataset-list"),
    path("datasets/<int:pk>/", api.DatasetDetailView.as_view(), name="dataset-detail"),
    path("datasets/<int:pk>/records/", api.RecordsView.as_view(), name="dataset-records"),
    # Before the record route: its <path:record_id> would take "<id>/lineage" as a record id.
    path(
        "datasets/<int:pk>/records/<path:record_id>/lineage/",
        RecordLineageView.as_view(),
        name="dataset-record-lineage",
    ),
    path("datasets/<int:pk>/records/<path:record_id>/", api.RecordDetailView.as_view(), name="dataset-record"),
    path("datasets/<int:pk>/versions/", api_versions.VersionListView.as_view(), name="dataset-versions"),
    path("datasets/<int:pk>/versions/<int:number>/", api_versions.VersionDetailView.as_view(), name="dataset-version"),
    path(
        "datasets/<int:pk>/versions/<int:number>/restore/",
        api_versions.VersionRestoreView.as_view(),
        name="dataset-version-restore",
    ),
    path("datasets/<int:pk>/tags/", api_versions.TagListView.as_view(), name="dataset-tags"),
    path("datasets/<int:pk>/tags/<str:name>/", api_versions.TagDetailView.as_view(), name="dataset-tag"),
    path("datasets/<int:pk>/diff/", api_versions.DiffView.as_view(), name="dataset-diff"),
    path("datasets/<int:pk>/add-spans/", api_curation.AddSpansView.as_view(), name="dataset-add-spans"),
    path("datasets/<int:pk>/from-feedback/", api_curation.FromFeedbackView.as_view(), name="dataset-from-feedback"),
    path("datasets/<int:pk>/generate/", api_curation.GenerateView.as_view(), name="dataset-generate"),
    path("dataset-jobs/<int:pk>/", api_curation.JobDetailView.as_view(), name="dataset-job"),
]
