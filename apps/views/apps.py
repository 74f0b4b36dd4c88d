from django.apps import AppConfig


class ViewsConfig(AppConfig):
    name = "apps.views"
    label = "views"
