from django.urls import path

from . import api

urlpatterns = [
    path("experiments/", api.ExperimentListCreateView.as_view(), name="experiment-list"),
    path("experiments/<int:pk>/", api.ExperimentDetailView.as_view(), name="experiment-detail"),
    path("experiments/<int:pk>/results/", api.ExperimentResultsView.as_view(), name="experiment-results"),
]
