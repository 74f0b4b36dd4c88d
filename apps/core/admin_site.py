from django.contrib import admin

from . import registry

# The dashboard's app list in the order of the work: traces come in, are reviewed in queues, become
# datasets and leave as exports; configuration follows, and keys and schedules come last.
APP_ORDER = [
    "traces",
    "queues",
    "datasets",
    "exports",
    "reviews",
    "views",
    "projects",
    "auth",
    "rest_framework_api_key",
    "django_celery_beat",
]
MODEL_ORDER = {
    "traces": ["Trace", "Span", "Tag"],
    "datasets": ["Dataset", "DatasetJob"],
    "exports": ["ExportJob", "ExportSchedule"],
    "reviews": ["ScoreConfig", "Score", "Comment", "Correction", "ScoreEvent", "TagEvent"],
}


class AssaySite(admin.AdminSite):
    site_header = "Assay"
    site_title = "Assay"
    index_title = "Dashboard"
    index_template = "admin/assay_index.html"
    # The changelists are wide (previews, filters); the app list is on the dashboard.
    enable_nav_sidebar = False
    # `login_form` is set by the projects app (apps/projects/login.py): it says "no admin access" /
    # "no project" to a right password, which needs memberships; core does not import projects.

    def get_app_list(self, request, app_label=None):
        apps = super().get_app_list(request, app_label)
        rank = {label: i for i, label in enumerate(APP_ORDER)}
        # Apps not named keep their alphabetical place between the named ones and the last two.
        apps.sort(key=lambda app: rank.get(app["app_label"], len(APP_ORDER) - 2.5))
        for app in apps:
            order = MODEL_ORDER.get(app["app_label"])
            if order:
                app["models"].sort(
                    key=lambda m: order.index(m["object_name"]) if m["object_name"] in order else len(order)
                )
        return apps

    def index(self, request, extra_context=None):
        panels = []
        for panel in registry.dashboard_panels:
            rendered = panel(request)
            if rendered:
                panels.append(rendered)
        extra_context = {**(extra_context or {}), "dashboard_panels": panels}
        return super().index(request, extra_context)
