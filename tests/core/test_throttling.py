"""Rate limits on the public surfaces: feedback (per key and per address), share pages (per link and per
address) and failed API keys (per address), answered 429 with Retry-After; client addresses behind
trusted proxies; the Redis cache shared by every web process."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from apps.core.throttling import AssayRateThrottle
from apps.projects.services import api_key_create
from apps.reviews.models import Comment
from apps.views.services import share_link_create
from tests import factories

pytestmark = pytest.mark.django_db

FEEDBACK = "/api/v1/feedback/"
TRACES = "/api/v1/traces/"
NO_LIMITS = {
    "feedback_key": "",
    "feedback_address": "",
    "share_link": "",
    "share_address": "",
    "auth_failure_address": "",
}


def limits(**rates):
    return override_settings(RATE_LIMITS={**NO_LIMITS, **rates})


class Clock:
    """The throttles' clock, moved by hand so a test can let a window pass."""

    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    cache.clear()
    fake = Clock()
    monkeypatch.setattr(AssayRateThrottle, "timer", fake)
    yield fake
    cache.clear()


@pytest.fixture
def span(project):
    trace = factories.TraceFactory(project=project, trace_id="t-1", root_span_id="root-1")
    return factories.SpanFactory(trace=trace, span_id="root-1", parent_span_id="")


def key_client(project, *, scopes=("feedback",), address="203.0.113.7") -> APIClient:
    _, key = api_key_create(project=project, scopes=list(scopes))
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def send_feedback(client, n: int = 1, **extra):
    return [
        client.post(FEEDBACK, {"span_id": "root-1", "comment": "thumbs up"}, format="json", **extra) for _ in range(n)
    ]


def assert_throttled_json(response):
    assert response.status_code == 429
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    body = response.json()
    assert set(body) == {"error", "fields"} and body["fields"] == {}
    assert "throttled" in body["error"].lower() or "too many" in body["error"].lower()
    return wait


# ------------------------------------------------------------------ feedback


def test_feedback_is_limited_per_key(project, span):
    first, second = key_client(project), key_client(project)
    with limits(feedback_key="3/m"):
        answers = send_feedback(first, 4)
        assert [r.status_code for r in answers[:3]] == [201, 201, 201]
        assert_throttled_json(answers[3])
        assert Comment.objects.count() == 3  # the refused call wrote nothing
        # Another key from the same address has its own budget.
        assert send_feedback(second)[0].status_code == 201


def test_feedback_is_limited_per_address_across_keys(project, span):
    with limits(feedback_address="2/m"):
        here = [key_client(project, address="198.51.100.1") for _ in range(3)]
        assert [send_feedback(c)[0].status_code for c in here] == [201, 201, 429]
        elsewhere = key_client(project, address="198.51.100.2")
        assert send_feedback(elsewhere)[0].status_code == 201


def test_feedback_budget_comes_back_when_the_window_passes(project, span, clock):
    client = key_client(project)
    with limits(feedback_key="2/m"):
        assert [r.status_code for r in send_feedback(client, 3)] == [201, 201, 429]
        clock.now += 30
        wait = assert_throttled_json(send_feedback(client)[0])
        assert wait == 30  # the oldest call leaves the window 60 s after it was made
        clock.now += 31
        assert send_feedback(client)[0].status_code == 201


def test_feedback_limits_members_sessions_per_user(project, span, member):
    user = member(project, role="reviewer")
    client = APIClient()
    client.force_login(user)
    with limits(feedback_key="1/m"):
        answers = [
            client.post(FEEDBACK, {"span_id": "root-1", "comment": "ok", "project": "acme"}, format="json")
            for _ in range(2)
        ]
    assert answers[0].status_code == 201, answers[0].json()
    assert_throttled_json(answers[1])


# ------------------------------------------------------------------ client address


def test_forwarded_for_is_ignored_without_trusted_proxies(project, span):
    """A client cannot escape its address budget by writing X-Forwarded-For itself."""
    client = key_client(project, address="192.0.2.10")
    with limits(feedback_address="2/m"), override_settings(TRUSTED_PROXY_COUNT=0):
        codes = [send_feedback(client, HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")[0].status_code for i in range(3)]
    assert codes == [201, 201, 429]


def test_forwarded_for_names_the_client_behind_trusted_proxies(project, span):
    # Two proxies: the client's address is the second from the right; whatever stands left of it was
    # written by the client and cannot buy a fresh budget.
    client = key_client(project, address="10.1.1.1")
    with limits(feedback_address="2/m"), override_settings(TRUSTED_PROXY_COUNT=2):
        same = [
            send_feedback(client, HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 192.0.2.20, 10.0.0.2")[0].status_code
            for i in range(3)
        ]
        other = send_feedback(client, HTTP_X_FORWARDED_FOR="192.0.2.21, 10.0.0.2")[0].status_code
    assert same == [201, 201, 429]
    assert other == 201


# ------------------------------------------------------------------ failed API keys


def test_failed_keys_are_limited_per_address_then_even_a_good_key_waits(project):
    _, good = api_key_create(project=project, scopes=["read"])
    attacker = APIClient(REMOTE_ADDR="192.0.2.66")
    with limits(auth_failure_address="3/m"):
        bad = [attacker.get(TRACES, HTTP_AUTHORIZATION=f"Bearer nope.{i}") for i in range(3)]
        assert [r.status_code for r in bad] == [401, 401, 401]
        assert_throttled_json(attacker.get(TRACES, HTTP_AUTHORIZATION="Bearer nope.4"))
        # Refused before the key is looked at: the address learns nothing, not even about a real key.
        assert_throttled_json(attacker.get(TRACES, HTTP_AUTHORIZATION=f"Bearer {good}"))
        # Another address is not affected.
        assert APIClient(REMOTE_ADDR="192.0.2.67").get(TRACES, HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200


def test_good_keys_and_missing_keys_do_not_count_as_failures(project):
    _, good = api_key_create(project=project, scopes=["read"])
    client = APIClient(REMOTE_ADDR="192.0.2.70")
    with limits(auth_failure_address="2/m"):
        for _ in range(5):
            assert client.get(TRACES, HTTP_AUTHORIZATION=f"Bearer {good}").status_code == 200
            assert client.get(TRACES).status_code in (401, 403)
        assert client.get(TRACES, HTTP_AUTHORIZATION="Bearer bad.1").status_code == 401


def test_revoked_keys_count_as_failures_on_ingest_too(project):
    api_key, raw = api_key_create(project=project, scopes=["ingest"])
    api_key.revoked = True
    api_key.save()
    client = APIClient(REMOTE_ADDR="192.0.2.71")
    with limits(auth_failure_address="1/m"):
        assert (
            client.post("/api/v1/ingest/", {"spans": []}, format="json", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code
            == 401
        )
        assert_throttled_json(
            client.post("/v1/traces", b"{}", content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
        )


# ------------------------------------------------------------------ share pages


@pytest.fixture
def share_path(project, span):
    view = factories.TraceViewFactory(project=project, name="Chat")
    _, token = share_link_create(view=view, trace=span.trace)
    return f"/share/{token}/"


def test_share_page_is_limited_per_address(client, share_path):
    with limits(share_address="2/m"):
        codes = [client.get(share_path, REMOTE_ADDR="198.51.100.9").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        refused = client.get(share_path, REMOTE_ADDR="198.51.100.9")
        assert 1 <= int(refused["Retry-After"]) <= 60
        assert "Too many requests" in refused.content.decode()
        assert "script-src 'self'" in refused["Content-Security-Policy"]
        assert client.get(share_path, REMOTE_ADDR="198.51.100.10").status_code == 200


def test_share_page_is_limited_per_link(client, share_path, project, span):
    other_view = factories.TraceViewFactory(project=project, name="Other")
    _, other_token = share_link_create(view=other_view, trace=span.trace)
    with limits(share_link="2/h"):
        codes = [client.get(share_path, REMOTE_ADDR=f"198.51.100.{i}").status_code for i in range(3)]
        assert codes == [200, 200, 429]
        assert 1 <= int(client.get(share_path, REMOTE_ADDR="198.51.100.50")["Retry-After"]) <= 3600
        assert client.get(f"/share/{other_token}/", REMOTE_ADDR="198.51.100.1").status_code == 200


def test_guessing_share_tokens_is_limited_per_address(client):
    with limits(share_address="3/m"):
        codes = [client.get(f"/share/guess-{i}/", REMOTE_ADDR="198.51.100.77").status_code for i in range(4)]
    assert codes == [404, 404, 404, 429]


# ------------------------------------------------------------------ Redis


def test_limits_are_counted_in_redis_when_configured(project, span, redis_url):
    import redis

    redis_caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": "assay-test-throttle",
        }
    }
    connection = redis.Redis.from_url(redis_url)
    for stale in connection.scan_iter("assay-test-throttle:*"):
        connection.delete(stale)
    try:
        with override_settings(CACHES=redis_caches), limits(feedback_address="2/m"):
            client = key_client(project, address="198.51.100.200")
            assert [r.status_code for r in send_feedback(client, 3)] == [201, 201, 429]
            stored = [k.decode() for k in connection.scan_iter("assay-test-throttle:*")]
            assert any("throttle_feedback_address_198.51.100.200" in k for k in stored), stored
    finally:
        for key in connection.scan_iter("assay-test-throttle:*"):
            connection.delete(key)


def test_requests_refused_per_address_do_not_use_up_the_links_budget(client, share_path):
    with limits(share_address="2/m", share_link="3/m"):
        noisy = [client.get(share_path, REMOTE_ADDR="198.51.100.1").status_code for _ in range(6)]
        assert noisy == [200, 200, 429, 429, 429, 429]
        # The link has counted 2 of its 3: another visitor still gets one.
        assert client.get(share_path, REMOTE_ADDR="198.51.100.2").status_code == 200
        assert client.get(share_path, REMOTE_ADDR="198.51.100.3").status_code == 429
