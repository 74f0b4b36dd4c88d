from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"

    def ready(self):
        from django.contrib import admin

        from .login import AssayAuthenticationForm

        # A right password without admin access or a project is told so (core does not import projects).
        admin.site.login_form = AssayAuthenticationForm
