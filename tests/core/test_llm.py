"""The one LLM client, against a stub OpenAI-compatible endpoint on loopback."""

from __future__ import annotations

import time

import pytest

from apps.core import llm
from apps.core.exceptions import ApplicationError
from tests.llm_stub import StubLLM


@pytest.fixture
def stub(settings, monkeypatch):
    monkeypatch.setattr(llm, "BACKOFF_SECONDS", 0.01)
    with StubLLM() as server:
        yield server.configure(settings, "sk-secret-key")


def test_text_reply_with_the_configured_model_and_key(stub):
    stub.replies = ["Hello there."]
    assert llm.llm_chat([{"role": "user", "content": "Hi"}]) == "Hello there."
    (sent,) = stub.requests
    assert sent["path"] == "/v1/chat/completions" and sent["auth"] == "Bearer sk-secret-key"
    assert sent["body"] == {"model": "stub-model", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0.0}


def test_json_mode_asks_for_an_object_and_parses_fenced_replies(stub):
    stub.replies = ['```json\n{"records": [1, 2]}\n```']
    answer = llm.llm_chat([{"role": "user", "content": "x"}], json_mode=True, model="other", temperature=0.8)
    assert answer == {"records": [1, 2]}
    body = stub.requests[0]["body"]
    assert body["response_format"] == {"type": "json_object"}
    assert (body["model"], body["temperature"]) == ("other", 0.8)


def test_json_mode_rejects_prose(stub):
    stub.replies = ["Sure! Here it is."]
    with pytest.raises(ApplicationError) as err:
        llm.llm_chat([{"role": "user", "content": "x"}], json_mode=True)
    assert err.value.status == 502 and "did not answer with JSON" in err.value.message


def test_429_and_5xx_are_retried_with_backoff(stub):
    stub.replies = [429, 503, "finally"]
    started = time.monotonic()
    assert llm.llm_chat([{"role": "user", "content": "x"}]) == "finally"
    assert len(stub.requests) == 3
    assert time.monotonic() - started >= 0.03  # 0.01 then 0.02


def test_retry_after_is_honoured(stub, monkeypatch):
    waits = []
    monkeypatch.setattr(llm.time, "sleep", waits.append)
    stub.replies = [(429, {"Retry-After": "3"}), (503, {"Retry-After": "999"}), "ok"]
    assert llm.llm_chat([{"role": "user", "content": "x"}]) == "ok"
    assert waits == [3.0, llm.MAX_WAIT_SECONDS]


def test_gives_up_after_the_retries_without_leaking_the_key(stub):
    stub.replies = [500, 500, 500, "never asked"]
    with pytest.raises(ApplicationError) as err:
        llm.llm_chat([{"role": "user", "content": "x"}], retries=2)
    assert err.value.status == 502 and err.value.message == "The LLM endpoint answered HTTP 500."
    assert "sk-secret-key" not in err.value.message
    assert len(stub.requests) == 3


def test_client_errors_are_not_retried(stub):
    stub.replies = [401, "never asked"]
    with pytest.raises(ApplicationError) as err:
        llm.llm_chat([{"role": "user", "content": "x"}])
    assert "HTTP 401" in err.value.message and len(stub.requests) == 1


def test_redirects_are_not_followed(stub, settings):
    with StubLLM(["elsewhere"]) as other:
        stub.replies = [(307, {"Location": other.url + "/chat/completions"})]
        with pytest.raises(ApplicationError) as err:
            llm.llm_chat([{"role": "user", "content": "x"}])
        assert other.requests == []  # the key never went to the other host
    assert err.value.status == 502 and "redirect, not followed" in err.value.message


def test_unreachable_endpoint_is_502(stub, settings):
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # the discard port: nothing listens
    with pytest.raises(ApplicationError) as err:
        llm.llm_chat([{"role": "user", "content": "x"}], timeout=2)
    assert err.value.status == 502 and "could not be reached" in err.value.message


def test_a_reply_without_a_completion_is_502(stub):
    stub.replies = [{"error": {"message": "quota"}}]
    with pytest.raises(ApplicationError) as err:
        llm.llm_chat([{"role": "user", "content": "x"}])
    assert err.value.status == 502 and "without a chat completion" in err.value.message


def test_json_from_reply():
    assert llm.json_from_reply(' {"a": 1} ') == {"a": 1}
    assert llm.json_from_reply("```\n[1]\n```") == [1]
    with pytest.raises(ValueError):
        llm.json_from_reply("not json")


def test_unconfigured_explains_how(settings):
    settings.LLM_BASE_URL = ""
    assert llm.llm_configured() is False
    with pytest.raises(ApplicationError) as err:
        llm.llm_chat([{"role": "user", "content": "x"}])
    assert err.value.status == 503
    assert all(name in err.value.message for name in ("LLM_BASE_URL", "LLM_API_KEY", "LLM_MODEL"))
