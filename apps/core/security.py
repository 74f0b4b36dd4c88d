"""The Content-Security-Policy every page sends, and the rule a production SECRET_KEY must meet.

Imported by config.settings_production before Django is set up: nothing here may touch models.
"""

from __future__ import annotations

IMG_SRC = "'self' https: http: data:"
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE = 10


def content_security_policy(*, frame_ancestors: list[str] | None = None, admin: bool = False) -> str:
    """No inline script, ever: trace content cannot run even if some escaping were missed.

    Admin pages keep inline *styles* (Django's admin templates use a few); share pages do not.
    """
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    style = "'self' 'unsafe-inline'" if admin else "'self'"
    # Admin pages may frame this origin's own pages (the board's side panel shows the review page).
    frames = "frame-src 'self'; " if admin else ""
    return (
        f"default-src 'none'; script-src 'self'; style-src {style}; img-src {IMG_SRC}; {frames}"
        f"connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
        f"frame-ancestors {ancestors}"
    )


class ContentSecurityPolicyMiddleware:
    """Every response without a policy of its own (the admin, the API docs, JSON) gets the admin one.

    Views with stricter needs (share pages, downloads) set the header themselves and keep it.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.policy = content_security_policy(admin=True)
        # Pages a view lets its own site frame (the review page in the board's side panel).
        self.same_origin_policy = content_security_policy(frame_ancestors=["'self'"], admin=True)

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            framed = response.get("X-Frame-Options", "").upper() == "SAMEORIGIN"
            response["Content-Security-Policy"] = self.same_origin_policy if framed else self.policy
        return response


def secret_key_problem(key: str, *, development_key: str) -> str | None:
    """Why `key` must not sign production sessions, or None when it is acceptable."""
    if not key:
        return "SECRET_KEY is empty."
    if key == development_key or "insecure" in key.lower():
        return "SECRET_KEY is the development key published in the repository (or marked insecure)."
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"SECRET_KEY is {len(key)} characters long; use at least {SECRET_KEY_MIN_LENGTH}."
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE:
        return (
            f"SECRET_KEY has only {len(set(key))} distinct characters; a random key has far more "
            f"(at least {SECRET_KEY_MIN_UNIQUE} required)."
        )
    return None
