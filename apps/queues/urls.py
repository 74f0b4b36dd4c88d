from django.urls import path
from rest_framework.routers import SimpleRouter

from .api import ReviewQueueViewSet
from .api_adjudication import AdjudicationView, DisagreementsView
from .api_items import ReviewItemSkipView, ReviewItemSubmitView, ReviewItemView
from .quality_api import QueueGoldQuestionsView, QueueReviewerItemsView, QueueReviewersView

router = SimpleRouter()
router.register("review-queues", ReviewQueueViewSet, basename="review-queue")

urlpatterns = [
    path("review-queues/<int:queue_pk>/items/<int:item_pk>/", ReviewItemView.as_view(), name="review-item"),
    path(
        "review-queues/<int:queue_pk>/items/<int:item_pk>/submit/",
        ReviewItemSubmitView.as_view(),
        name="review-item-submit",
    ),
    path(
        "review-queues/<int:queue_pk>/items/<int:item_pk>/skip/", ReviewItemSkipView.as_view(), name="review-item-skip"
    ),
    path("review-queues/<int:queue_pk>/reviewers/", QueueReviewersView.as_view(), name="review-queue-reviewers"),
    path(
        "review-queues/<int:queue_pk>/reviewers/<int:reviewer_pk>/",
        QueueReviewerItemsView.as_view(),
        name="review-queue-reviewer",
    ),
    path(
        "review-queues/<int:queue_pk>/gold-questions/",
        QueueGoldQuestionsView.as_view(),
        name="review-queue-gold-questions",
    ),
    path("review-queues/<int:queue_pk>/disagreements/", DisagreementsView.as_view(), name="review-queue-disagreements"),
    path(
        "review-queues/<int:queue_pk>/items/<int:item_pk>/adjudication/",
        AdjudicationView.as_view(),
        name="review-item-adjudication",
    ),
    *router.urls,
]
