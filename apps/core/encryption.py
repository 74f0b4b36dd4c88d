"""Secrets stored in the database, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, `cryptography`).

The key comes from ASSAY_FIELD_ENCRYPTION_KEY: one or more comma-separated Fernet keys (the first
encrypts, every one decrypts, so a key can be rotated by putting the new one first). When it is
unset, one key is derived from SECRET_KEY with HKDF, so rotating SECRET_KEY then makes stored
secrets unreadable: set ASSAY_FIELD_ENCRYPTION_KEY in production.
"""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from apps.core.exceptions import ApplicationError


def _derived_key(secret: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"assay-field-encryption", info=b"fernet")
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


@lru_cache(maxsize=4)
def _fernet(configured: str, secret: str) -> MultiFernet:
    keys = [k.strip() for k in configured.split(",") if k.strip()] or [_derived_key(secret).decode()]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"ASSAY_FIELD_ENCRYPTION_KEY holds an invalid Fernet key: {exc}") from exc


def fernet() -> MultiFernet:
    return _fernet(getattr(settings, "ASSAY_FIELD_ENCRYPTION_KEY", "") or "", settings.SECRET_KEY)


def encrypt_json(value: Any) -> str:
    """A JSON value as a Fernet token (text); the empty string for no value."""
    if value in (None, {}, ""):
        return ""
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> Any:
    if not token:
        return None
    try:
        return json.loads(fernet().decrypt(token.encode()))
    except InvalidToken:
        raise ApplicationError(
            "Stored credentials cannot be decrypted with the current ASSAY_FIELD_ENCRYPTION_KEY; enter them again.",
            fields={"credentials": ["Unreadable with the current key."]},
            status=409,
        )
