"""Fixtures of the datasets tests: a stub OpenAI-compatible endpoint on loopback."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest


class _StubLLM(BaseHTTPRequestHandler):
    requests: list = []
    answer: dict = {}

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        payload = json.dumps({"choices": [{"message": {"role": "assistant",
                                                       "content": json.dumps(type(self).answer)}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def llm(settings):
    server = HTTPServer(("127.0.0.1", 0), _StubLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _StubLLM.requests = []
    settings.LLM_BASE_URL = f"http://127.0.0.1:{server.server_port}/v1"
    settings.LLM_API_KEY = "sk-test"
    settings.LLM_MODEL = "stub-model"
    yield _StubLLM
    server.shutdown()
    server.server_close()
