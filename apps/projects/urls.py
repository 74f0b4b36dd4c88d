from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("members", api.MemberViewSet, basename="member")

urlpatterns = [*router.urls]
