from django.urls import path

from . import api

urlpatterns = [
    path("audit-events/", api.AuditEventListView.as_view(), name="audit-event-list"),
    path("audit-events/export/", api.AuditEventExportView.as_view(), name="audit-event-export"),
]
