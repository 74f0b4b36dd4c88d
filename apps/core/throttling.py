"""Rate limits on the public surfaces: the feedback endpoint, share pages and API-key failures.

DRF's cache-backed throttles (a sliding window per scope and identity) count requests in the
`default` cache: Redis when `REDIS_URL` is set, so every web process shares the counts, otherwise
this process's memory. Rates live in `settings.RATE_LIMITS` ("N/s|m|h|d", empty = no limit) and are
read at each request. Addresses come from `client_ip`, which trusts exactly
`settings.TRUSTED_PROXY_COUNT` proxies in front of Assay; axes uses it too for admin sign-ins.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


def client_ip(request) -> str:
    """The address of the client: `REMOTE_ADDR`, or behind N trusted proxies the N-th address from the
    right of `X-Forwarded-For` (each proxy appends the address it was reached from; whatever stands
    further left was written by the client and is not trusted)."""
    remote = request.META.get("REMOTE_ADDR") or ""
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR") or ""
    if count <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
    if not hops:
        return remote
    candidate = hops[-min(count, len(hops))]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class AssayRateThrottle(SimpleRateThrottle):
    """A throttle whose rate is `settings.RATE_LIMITS[scope]`; identities are given by subclasses."""

    scope = ""

    def get_rate(self) -> str | None:
        return settings.RATE_LIMITS.get(self.scope) or None

    def identity(self, request, view) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request, view) -> str | None:
        ident = self.identity(request, view)
        if ident is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def wait(self) -> float:
        """Seconds until the oldest request in the window leaves it (what `Retry-After` says)."""
        if self.history:
            return max(1.0, self.duration - (self.now - self.history[-1]))
        return float(self.duration)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except Exception:  # a cache outage must not take the endpoint down with it
            logger.warning("rate-limit cache unavailable; %s not limited", self.scope, exc_info=True)
            return True


class AddressThrottle(AssayRateThrottle):
    def identity(self, request, view) -> str | None:
        return client_ip(request) or "unknown"


class FeedbackAddressThrottle(AddressThrottle):
    scope = "feedback_address"


class FeedbackKeyThrottle(AssayRateThrottle):
    """Per API key; signed-in members count per user."""

    scope = "feedback_key"

    def identity(self, request, view) -> str | None:
        # request.auth is set only by the project API key authentication (sessions leave it None).
        if request.auth is not None:
            return f"key-{request.auth.pk}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user-{user.pk}"
        return None


class ShareAddressThrottle(AddressThrottle):
    scope = "share_address"


class ShareLinkThrottle(AssayRateThrottle):
    """Per share link (its token, hashed: tokens are secrets and cache keys can be listed)."""

    scope = "share_link"

    def __init__(self, token: str):
        super().__init__()
        self.token_digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def identity(self, request, view) -> str | None:
        return self.token_digest


class AuthFailureThrottle(AddressThrottle):
    """Counts only failed API-key authentications, per address; an address over its budget is refused
    before any key it sends is checked, until the window frees up."""

    scope = "auth_failure_address"

    def _load(self, request) -> bool:
        if self.rate is None:
            return False
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return True

    def blocked_for(self, request) -> int | None:
        """Seconds until this address may try again, or None while it is under its budget."""
        try:
            if not self._load(request) or len(self.history) < self.num_requests:
                return None
        except Exception:
            logger.warning("rate-limit cache unavailable; key failures not limited", exc_info=True)
            return None
        return math.ceil(self.wait())

    def record_failure(self, request) -> None:
        try:
            if self._load(request):
                self.throttle_success()
        except Exception:
            logger.warning("rate-limit cache unavailable; key failure not counted", exc_info=True)


def request_wait(request, throttles: list[AssayRateThrottle]) -> int | None:
    """For views outside DRF: the seconds to wait if a throttle refuses the request, else None.

    Stops at the first refusal, so a refused request is not counted by the later throttles (an
    address over its own limit cannot keep eating a link's budget): list the narrower ones first."""
    for throttle in throttles:
        if not throttle.allow_request(request, None):
            return math.ceil(throttle.wait())
    return None
