"""`Authorization: Bearer <key>` with a project API key.

Verifying a key hashes it (djangorestframework-api-key); a small in-process cache of
recently verified keys keeps high-rate ingest from paying that on every request.
Revocation takes effect within KEY_CACHE_SECONDS. Failed keys are counted per client address
(`AuthFailureThrottle`); an address over its budget answers 429 before any key it sends is checked.
"""

from __future__ import annotations

import hashlib
import time

from django.contrib.auth.models import AnonymousUser
from rest_framework import authentication, exceptions

from apps.core.throttling import AuthFailureThrottle

from .models import ProjectAPIKey

KEY_CACHE_SECONDS = 30
_verified: dict[str, tuple[float, int]] = {}


def _key_from_header(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in {"bearer", "api-key"} or not token.strip():
        return None
    return token.strip()


def api_key_from_request(request) -> ProjectAPIKey | None:
    """The valid key the request carries, or None. Raises AuthenticationFailed for a bad key."""
    key = _key_from_header(request)
    if key is None:
        return None
    failures = AuthFailureThrottle()
    wait = failures.blocked_for(request)
    if wait is not None:
        raise exceptions.Throttled(wait=wait, detail="Too many failed API key attempts from this address.")
    digest = hashlib.sha256(key.encode()).hexdigest()
    now = time.monotonic()
    cached = _verified.get(digest)
    if cached and cached[0] > now:
        api_key = ProjectAPIKey.objects.select_related("project").filter(pk=cached[1], revoked=False).first()
        if api_key is not None and not api_key.has_expired:
            return api_key
        _verified.pop(digest, None)
    try:
        api_key = ProjectAPIKey.objects.get_from_key(key)  # a manager method: not on a QuerySet
    except ProjectAPIKey.DoesNotExist:
        failures.record_failure(request)
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if api_key.revoked or api_key.has_expired:
        failures.record_failure(request)
        raise exceptions.AuthenticationFailed("Invalid API key.")
    if len(_verified) > 10_000:
        _verified.clear()
    _verified[digest] = (now + KEY_CACHE_SECONDS, api_key.pk)
    return api_key


class ProjectAPIKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        api_key = api_key_from_request(request)
        if api_key is None:
            return None
        from .services import api_key_mark_used  # services import DRF, which imports this module

        api_key_mark_used(api_key=api_key)
        return AnonymousUser(), api_key

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="assay"'
