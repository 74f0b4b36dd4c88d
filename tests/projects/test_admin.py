"""Project admin: scoped to the member's projects, keys created by project admins only, shown once."""

import pytest
from django.urls import reverse

from apps.projects.models import Project, ProjectAPIKey, Role
from apps.projects.services import membership_set

pytestmark = pytest.mark.django_db


def test_member_lists_only_their_projects(client, member, project, other_project):
    client.force_login(member(project, role=Role.VIEWER))
    response = client.get(reverse("admin:projects_project_changelist"))
    assert response.status_code == 200
    assert [p.slug for p in response.context["cl"].result_list] == ["acme"]
    assert client.get(reverse("admin:projects_project_change", args=[other_project.pk])).status_code == 302
    assert client.get(reverse("admin:projects_project_add")).status_code == 403


def test_superuser_creates_a_project(admin_client):
    response = admin_client.post(
        reverse("admin:projects_project_add"),
        {
            "name": "Shop bot",
            "slug": "shop-bot",
            "description": "",
            "allowed_origins": "[]",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "api_keys-TOTAL_FORMS": "0",
            "api_keys-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Project.objects.filter(slug="shop-bot").exists()


@pytest.mark.parametrize(
    "action, scopes",
    [
        ("create_full_key", ["ingest", "read", "write"]),
        ("create_read_key", ["read"]),
        ("create_feedback_key", ["feedback"]),
    ],
)
def test_project_admin_creates_a_key_shown_once(client, member, project, action, scopes):
    client.force_login(member(project, role=Role.ADMIN))
    response = client.post(
        reverse("admin:projects_project_changelist"), {"action": action, "_selected_action": [project.pk]}, follow=True
    )
    assert response.status_code == 200
    key = ProjectAPIKey.objects.get(project=project)
    assert sorted(key.scopes) == sorted(scopes)
    text = response.content.decode()
    assert "copy it now" in text
    raw = text.split("<code>")[1].split("</code>")[0]
    assert ProjectAPIKey.objects.get_from_key(raw) == key
    # not shown again
    assert raw not in client.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()


def test_key_creation_needs_the_admin_role_in_that_project(client, member, project, other_project):
    user = member(project, role=Role.ADMIN)
    membership_set(project=other_project, user=user, role=Role.VIEWER)
    client.force_login(user)
    response = client.post(
        reverse("admin:projects_project_changelist"),
        {"action": "create_full_key", "_selected_action": [project.pk, other_project.pk]},
        follow=True,
    )
    assert ProjectAPIKey.objects.filter(project=project).count() == 1
    assert not ProjectAPIKey.objects.filter(project=other_project).exists()
    assert "You need the admin role in other" in response.content.decode()


def test_admin_of_one_project_cannot_edit_another_where_they_are_viewer(client, member, project, other_project):
    user = member(project, role=Role.ADMIN)
    membership_set(project=other_project, user=user, role=Role.VIEWER)
    client.force_login(user)
    url = reverse("admin:projects_project_change", args=[other_project.pk])
    page = client.get(url)
    assert page.status_code == 200 and b'name="name"' not in page.content  # read-only view
    response = client.post(url, {"name": "Hijacked", "slug": "other", "description": "", "allowed_origins": "[]"})
    assert response.status_code == 403
    other_project.refresh_from_db()
    assert other_project.name != "Hijacked"
    own = client.get(reverse("admin:projects_project_change", args=[project.pk]))
    assert b'name="name"' in own.content
