from django.urls import path

from . import pages

app_name = "views_share"

urlpatterns = [
    path("<str:token>/", pages.share_page, name="page"),
]
