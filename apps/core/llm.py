"""The one LLM client: chat completions against an OpenAI-compatible endpoint.

The endpoint, key and model come from settings (LLM_BASE_URL, LLM_API_KEY, LLM_MODEL) only, never
from a request. Redirects are not followed (the key must not travel to another host); 429 and 5xx
answers are retried with exponential backoff; every failure is an `ApplicationError` (status 502,
503 when nothing is configured) whose message never contains the key. What comes back is untrusted.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings

from .exceptions import ApplicationError

if TYPE_CHECKING:
    import httpx

LLM_HELP = (
    "This needs an OpenAI-compatible chat completions endpoint. Set LLM_BASE_URL (for example "
    "https://api.openai.com/v1, or http://127.0.0.1:11434/v1 for a local server), LLM_API_KEY and "
    "LLM_MODEL in the server's environment (see .env.example) and restart Assay."
)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_SECONDS = 0.5  # the first wait; doubled each retry, or the endpoint's Retry-After (capped)
MAX_WAIT_SECONDS = 10.0
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def llm_configured() -> bool:
    return bool(settings.LLM_BASE_URL and settings.LLM_MODEL)


def json_from_reply(content: str) -> Any:
    """The JSON value of a reply, Markdown fences removed (some models fence JSON despite being told
    not to). Raises ValueError when it is not JSON."""
    text = content.strip()
    fenced = _FENCE.match(text)
    return json.loads(fenced.group(1) if fenced else text)


@dataclass
class LLMCompletion:
    """A chat completion: the assistant's text, the endpoint's token usage (when it sent any), the model."""

    content: str
    usage: dict[str, int] = field(default_factory=dict)
    model: str = ""


# Sampling parameters a caller may pass through to the endpoint (never a URL, key or stream flag).
PASS_THROUGH = frozenset(
    {"max_tokens", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "n", "logit_bias", "user"}
)


def llm_completion(
    messages: list[dict[str, Any]],
    *,
    model: str | None = None,
    temperature: float = 0.0,
    parameters: dict[str, Any] | None = None,
    timeout: float | None = None,
    retries: int = 2,
    json_mode: bool = False,
) -> LLMCompletion:
    """One chat completion with its usage. `parameters` (keys of PASS_THROUGH) go to the endpoint as is."""
    if not llm_configured():
        raise ApplicationError(LLM_HELP, status=503)
    body: dict[str, Any] = {"model": model or settings.LLM_MODEL, "messages": messages, "temperature": temperature}
    body.update({k: v for k, v in (parameters or {}).items() if k in PASS_THROUGH})
    if json_mode:
        body["response_format"] = {"type": "json_object"}
    response = _post(body, timeout=timeout or settings.LLM_TIMEOUT_SECONDS, retries=retries)
    try:
        answer = response.json()
        content = answer["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ApplicationError("The LLM endpoint answered without a chat completion.", status=502)
    usage = answer.get("usage") if isinstance(answer.get("usage"), dict) else {}
    counts = {k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}
    if isinstance(content, str) or json_mode:
        text = content
    else:
        text = "" if content is None else json.dumps(content)
    return LLMCompletion(content=text, usage=counts, model=str(answer.get("model") or body["model"]))


def llm_chat(
    messages: list[dict[str, Any]],
    *,
    json_mode: bool = False,
    model: str | None = None,
    temperature: float = 0.0,
    timeout: float | None = None,
    retries: int = 2,
) -> Any:
    """One chat completion: the assistant's text, or with `json_mode` (the endpoint is asked for a
    JSON object) the parsed JSON value."""
    content = llm_completion(
        messages, json_mode=json_mode, model=model, temperature=temperature, timeout=timeout, retries=retries
    ).content
    if not json_mode or not isinstance(content, str):
        return content
    try:
        return json_from_reply(content)
    except ValueError:
        raise ApplicationError("The LLM endpoint did not answer with JSON.", status=502)


def _post(body: dict[str, Any], *, timeout: float, retries: int) -> httpx.Response:
    import httpx  # here, not at the top: ~4 MB that only a process calling an LLM should carry

    url = settings.LLM_BASE_URL.rstrip("/") + "/chat/completions"
    headers = {"Authorization": f"Bearer {settings.LLM_API_KEY}"} if settings.LLM_API_KEY else {}
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for attempt in range(retries + 1):
            try:
                response = client.post(url, json=body, headers=headers)
            except httpx.HTTPError as exc:
                raise ApplicationError(f"The LLM endpoint could not be reached ({exc.__class__.__name__}).", status=502)
            if response.status_code == 200:
                return response
            if response.status_code not in RETRY_STATUSES or attempt == retries:
                break
            time.sleep(_wait(response, attempt))
    if 300 <= response.status_code < 400:
        raise ApplicationError(
            f"The LLM endpoint answered HTTP {response.status_code} (a redirect, not followed: "
            "set LLM_BASE_URL to the final address).",
            status=502,
        )
    raise ApplicationError(f"The LLM endpoint answered HTTP {response.status_code}.", status=502)


def _wait(response: httpx.Response, attempt: int) -> float:
    try:
        asked = float(response.headers.get("Retry-After", ""))
    except ValueError:
        asked = BACKOFF_SECONDS * 2**attempt
    return max(0.0, min(asked, MAX_WAIT_SECONDS))
