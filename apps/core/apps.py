from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True
    name = "apps.core"
    label = "core"


class AssayAdminConfig(admin_apps.AdminConfig):
    """Installs AssaySite as the default admin site, so @admin.register keeps working."""

    default = False
    default_site = "apps.core.admin_site.AssaySite"
