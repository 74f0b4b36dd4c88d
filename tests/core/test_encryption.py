"""Secrets at rest: Fernet tokens keyed from ASSAY_FIELD_ENCRYPTION_KEY (rotatable) or from SECRET_KEY."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from apps.core.encryption import decrypt_json, encrypt_json
from apps.core.exceptions import ApplicationError


def test_round_trip_with_the_key_derived_from_secret_key(settings):
    settings.ASSAY_FIELD_ENCRYPTION_KEY = ""
    token = encrypt_json({"secret_access_key": "s3cr3t"})
    assert "s3cr3t" not in token and decrypt_json(token) == {"secret_access_key": "s3cr3t"}
    settings.SECRET_KEY = "another-secret-key-" * 4
    with pytest.raises(ApplicationError) as unreadable:
        decrypt_json(token)
    assert unreadable.value.status == 409


def test_rotation_new_key_first_old_tokens_still_read(settings):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.ASSAY_FIELD_ENCRYPTION_KEY = old
    token = encrypt_json({"a": 1})
    settings.ASSAY_FIELD_ENCRYPTION_KEY = f"{new},{old}"
    assert decrypt_json(token) == {"a": 1}
    fresh = encrypt_json({"b": 2})
    settings.ASSAY_FIELD_ENCRYPTION_KEY = new
    assert decrypt_json(fresh) == {"b": 2}
    with pytest.raises(ApplicationError):
        decrypt_json(token)


def test_nothing_to_store_is_the_empty_string():
    assert encrypt_json(None) == "" and encrypt_json({}) == "" and decrypt_json("") is None
