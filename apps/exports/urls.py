from rest_framework.routers import SimpleRouter

from .api import ExportJobViewSet
from .schedules_api import ExportDestinationViewSet, ExportScheduleViewSet

router = SimpleRouter()
router.register("exports", ExportJobViewSet, basename="export")
router.register("export-schedules", ExportScheduleViewSet, basename="export-schedule")
router.register("export-destinations", ExportDestinationViewSet, basename="export-destination")

urlpatterns = router.urls
