"""Fixtures of the datasets tests: a stub OpenAI-compatible endpoint on loopback."""

from __future__ import annotations

import pytest

from tests.llm_stub import StubLLM


@pytest.fixture
def llm(settings):
    with StubLLM() as stub:
        yield stub.configure(settings, "sk-test")
