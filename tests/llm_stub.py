"""A stub OpenAI-compatible chat completions endpoint on loopback, for generation tests."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubLLM:
    """Answers `/chat/completions`: each queued reply in turn (a string is the assistant's content, an
    int an HTTP error status, a `(status, headers)` pair an answer with those headers, a dict the
    whole JSON body, a callable is called with the request's parsed body and its return used as the reply),
    then `answer` as JSON content. Records every request: path,
    Authorization header, the raw body and its parsed JSON (`body`)."""

    def __init__(self, replies=(), answer: Any = None):
        self.replies = list(replies)
        self.answer = answer
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
                stub.requests.append(
                    {"path": self.path, "auth": self.headers.get("Authorization"), "raw": raw, "body": json.loads(raw)}
                )
                reply = stub.replies.pop(0) if stub.replies else json.dumps(stub.answer or {})
                if callable(reply):
                    reply = reply(stub.requests[-1]["body"])
                if isinstance(reply, int | tuple):
                    status, headers = reply if isinstance(reply, tuple) else (reply, {})
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                answer = (
                    reply
                    if isinstance(reply, dict)
                    else {"choices": [{"message": {"role": "assistant", "content": reply}}]}
                )
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def configure(self, settings, api_key: str) -> StubLLM:
        """Point Assay's LLM settings at this stub."""
        settings.LLM_BASE_URL = self.url
        settings.LLM_API_KEY = api_key
        settings.LLM_MODEL = "stub-model"
        return self

    def __enter__(self) -> StubLLM:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
