from django.urls import path

from apps.exports.lineage_api import RecordLineageView

from . import api

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
    path("datasets/<int:pk>/versions/", api.VersionListView.as_view(), name="dataset-versions"),
    path("datasets/<int:pk>/versions/<int:number>/", api.VersionDetailView.as_view(), name="dataset-version"),
    path(
        "datasets/<int:pk>/versions/<int:number>/restore/",
        api.VersionRestoreView.as_view(),
        name="dataset-version-restore",
    ),
    path("datasets/<int:pk>/tags/", api.TagListView.as_view(), name="dataset-tags"),
    path("datasets/<int:pk>/tags/<str:name>/", api.TagDetailView.as_view(), name="dataset-tag"),
    path("datasets/<int:pk>/diff/", api.DiffView.as_view(), name="dataset-diff"),
    path("datasets/<int:pk>/add-spans/", api.AddSpansView.as_view(), name="dataset-add-spans"),
    path("datasets/<int:pk>/from-feedback/", api.FromFeedbackView.as_view(), name="dataset-from-feedback"),
    path("datasets/<int:pk>/generate/", api.GenerateView.as_view(), name="dataset-generate"),
    path("dataset-jobs/<int:pk>/", api.JobDetailView.as_view(), name="dataset-job"),
]
