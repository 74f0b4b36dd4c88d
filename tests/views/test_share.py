"""Share links: signed, expiring, revocable; iframe embedding only on the project's origins; strict CSP."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.views.models import ShareLink
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def shared(project, key_client, chat_trace):
    view = factories.TraceViewFactory(project=project, name="Chat")
    client = key_client(project)
    response = client.post(
        f"/api/v1/trace-views/{view.pk}/share-links/", {"trace": "chat-1", "expires_in_hours": 2}, format="json"
    )
    assert response.status_code == 201, response.json()
    return client, response.json()


def test_share_page_shows_trace_without_login(client, shared):
    _, link = shared
    path = link["url"].split("testserver", 1)[1]
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your order has shipped." in html and "support chat" in html
    csp = response["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "no-referrer"


def test_embedding_only_on_allowed_origins(client, project, shared):
    project.allowed_origins = ["https://app.example.com", "http://localhost:3000/", "javascript:alert(1)", "*"]
    project.save()
    _, link = shared
    response = client.get(link["url"].split("testserver", 1)[1])
    assert "frame-ancestors https://app.example.com http://localhost:3000" in response["Content-Security-Policy"]
    assert "*" not in response["Content-Security-Policy"].split("frame-ancestors", 1)[1]
    assert "X-Frame-Options" not in response


def test_expired_link_is_gone(client, shared):
    _, link = shared
    ShareLink.objects.filter(pk=link["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(link["url"].split("testserver", 1)[1])
    assert response.status_code == 404 and b"Your order" not in response.content


def test_revoked_link_is_gone(client, shared):
    api, link = shared
    path = link["url"].split("testserver", 1)[1]
    assert client.get(path).status_code == 200
    revoked = api.post(f"/api/v1/share-links/{link['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["is_active"] is False
    assert client.get(path).status_code == 404


def test_tampered_or_unsigned_tokens_are_gone(client, shared):
    _, link = shared
    token = link["token"]
    assert client.get(f"/share/{token[:-2]}xx/").status_code == 404
    assert client.get(f"/share/{ShareLink.objects.get().key}/").status_code == 404


def test_expiry_is_required_to_be_sane(project, key_client, chat_trace):
    view = factories.TraceViewFactory(project=project)
    client = key_client(project)
    for bad in (0, -1, "soon", 24 * 366 * 2, 0.5, 0.999, True, "nan", "inf"):  # the documented minimum is 1 h
        response = client.post(
            f"/api/v1/trace-views/{view.pk}/share-links/", {"trace": "chat-1", "expires_in_hours": bad}, format="json"
        )
        assert response.status_code == 400 and "expires_in_hours" in response.json()["fields"]
    response = client.post(
        f"/api/v1/trace-views/{view.pk}/share-links/", {"trace": "chat-1", "expires_in_hours": 1}, format="json"
    )
    assert response.status_code == 201


def test_share_links_listed_and_foreign_ones_hidden(project, other_project, key_client, shared):
    theirs = key_client(other_project).get("/api/v1/share-links/").json()
    assert theirs["results"] == []
    _, link = shared
    assert key_client(other_project).post(f"/api/v1/share-links/{link['id']}/revoke/").status_code == 404
