from django.contrib import admin

from . import registry


class AssaySite(admin.AdminSite):
    site_header = "Assay"
    site_title = "Assay"
    index_title = "Dashboard"
    index_template = "admin/assay_index.html"
    # The changelists are wide (previews, filters); the app list is on the dashboard.
    enable_nav_sidebar = False

    def index(self, request, extra_context=None):
        panels = []
        for panel in registry.dashboard_panels:
            rendered = panel(request)
            if rendered:
                panels.append(rendered)
        extra_context = {**(extra_context or {}), "dashboard_panels": panels}
        return super().index(request, extra_context)
