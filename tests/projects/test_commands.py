from io import StringIO

import pytest
from django.core.management import call_command

from apps.projects.models import Project, ProjectAPIKey

pytestmark = pytest.mark.django_db


def test_create_project_and_key_prints_usable_key_on_last_line(api_client):
    call_command("create_project", "shop", "--name", "Shop bot", stdout=StringIO())
    out = StringIO()
    call_command("create_api_key", "shop", "--scopes", "ingest,read", stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    api_key = ProjectAPIKey.objects.get_from_key(key)
    assert api_key.project == Project.objects.get(slug="shop")
    assert sorted(api_key.scopes) == ["ingest", "read"]
    # Stored hashed: the clear key is nowhere in the row.
    assert key not in str(ProjectAPIKey.objects.filter(pk=api_key.pk).values().first())


def test_create_api_key_rejects_unknown_scope():
    call_command("create_project", "shop", stdout=StringIO())
    with pytest.raises(Exception, match="scopes"):
        call_command("create_api_key", "shop", "--scopes", "root", stdout=StringIO())
