from django.urls import path

from .api import RetentionPolicyView, RetentionPreviewView, RetentionRunsView

urlpatterns = [
    path("retention-policy/", RetentionPolicyView.as_view(), name="retention-policy"),
    path("retention-policy/preview/", RetentionPreviewView.as_view(), name="retention-policy-preview"),
    path("retention-policy/runs/", RetentionRunsView.as_view(), name="retention-policy-runs"),
]
