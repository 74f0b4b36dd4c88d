from django.urls import path

from . import share_page

app_name = "views_share"

urlpatterns = [
    path("<str:token>/", share_page.share_page, name="page"),
]
