"""Headless Chromium: an XSS corpus through every component (share page, admin view page, editor preview),
the editor's live preview, carousels, and scoring through a view's inline score controls."""

from __future__ import annotations

import base64
import json
import re
import time

import pytest
from playwright.sync_api import expect

from apps.views.services import share_link_create, trace_view_create
from tests import factories
from tests.browser import session_cookie
from tests.llm_stub import StubLLM

from .conftest import make_trace

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FLAG = "window.__xss=1"
SVG = base64.b64encode(b'<svg xmlns="http://www.w3.org/2000/svg" onload="window.__xss=1"></svg>').decode()
PAYLOADS = [
    f"<script>{FLAG}</script>",
    f'<img src=x onerror="{FLAG}">',
    f"<svg/onload={FLAG}>",
    f'"><img src=x onerror={FLAG}>',
    f"</script><script>{FLAG}</script>",
    f"javascript:{FLAG}",
    f'<a href="javascript:{FLAG}">click</a>',
    '<iframe srcdoc="<script>parent.__xss=1</script>"></iframe>',
    f"[md link](javascript:{FLAG})",
    f"![md image](javascript:{FLAG})",
    f"<details open ontoggle={FLAG}>x</details>",
    f'<math><mtext><table><mglyph><style><img src=x onerror="{FLAG}">',
    "{{ 7|add:42 }}{% debug %}",
]
XSS = "\n".join(PAYLOADS)
SHORT = f"<img src=x onerror={FLAG}>"
BAD_IMAGES = [
    f"javascript:{FLAG}",
    f"data:image/svg+xml;base64,{SVG}",
    f"data:text/html,<script>{FLAG}</script>",
    f'https://example.invalid/x.png" onerror="{FLAG}',
]

EVERY_COMPONENT = {
    "version": 1,
    "components": [
        {"type": "conversation", "title": SHORT, "path": ["$.input.messages", "$.output"]},
        {
            "type": "fields",
            "title": SHORT,
            "fields": [{"label": SHORT, "path": "$.metadata.note"}, {"label": "nested", "path": "$.metadata.nested"}],
        },
        {"type": "markdown", "title": SHORT, "path": "$.input.question"},
        {"type": "markdown", "path": "$.metadata.nested"},
        {"type": "json", "title": SHORT, "path": "$", "open_depth": 5},
        {
            "type": "carousel",
            "title": SHORT,
            "path": "$.metadata.docs",
            "item_title": "$.title",
            "components": [
                {"type": "markdown", "path": "$.body"},
                {"type": "fields", "fields": [{"label": SHORT, "path": "$.title"}]},
                {"type": "image", "path": "$.image", "alt": SHORT},
                {"type": "json", "path": "$"},
            ],
        },
        {"type": "diff", "title": SHORT},
        {"type": "image", "title": SHORT, "path": "$.metadata.images", "alt": SHORT},
        {
            "type": "aggregate",
            "title": SHORT,
            "spans": {"type": "tool"},
            "display": "table",
            "columns": [{"label": SHORT, "path": "$.name"}, {"label": "in", "path": "$.input"}],
        },
        {"type": "aggregate", "spans": {"type": "tool"}, "display": "list", "path": "$.output"},
        {
            "type": "aggregate",
            "spans": {"type": "tool"},
            "display": "sum",
            "path": "$.metrics.total_tokens",
            "group_by": "$.model",
        },
        {"type": "aggregate", "spans": {"type": "tool"}, "display": "count", "group_by": "$.input"},
        {"type": "score_controls", "title": SHORT, "configs": [SHORT, "quality"]},
    ],
}


def xss_trace(project):
    message_content = [{"type": "text", "text": XSS}] + [
        {"type": "image_url", "image_url": {"url": url}} for url in BAD_IMAGES
    ]
    return make_trace(
        project,
        [
            {
                "name": SHORT,
                "type": "task",
                "model": SHORT,
                "input": {
                    "question": XSS,
                    "messages": [
                        {"role": SHORT, "name": SHORT, "content": XSS},
                        {
                            "role": "assistant",
                            "content": message_content,
                            "tool_calls": [{"id": SHORT, "function": {"name": SHORT, "arguments": XSS}}],
                        },
                        {"role": "tool", "tool_call_id": SHORT, "content": XSS},
                        {
                            "role": "user",
                            "content": [
                                {"type": "tool_result", "tool_use_id": SHORT, "content": XSS},
                                {"type": "tool_use", "name": SHORT, "input": {SHORT: XSS}},
                            ],
                        },
                    ],
                },
                "output": XSS,
                "expected": XSS + "\nexpected",
                "metadata": {
                    "note": XSS,
                    SHORT: XSS,
                    "nested": {SHORT: [XSS, {"deep": XSS}]},
                    "images": BAD_IMAGES,
                    "docs": [
                        {"title": XSS, "body": XSS, "image": BAD_IMAGES[1]},
                        {"title": SHORT, "body": SHORT, "image": BAD_IMAGES[0]},
                    ],
                },
            },
            {
                "name": SHORT,
                "type": "tool",
                "model": SHORT,
                "input": XSS,
                "output": XSS,
                "metrics": {"total_tokens": 3},
            },
            {
                "name": "<svg onload=window.__xss=1>",
                "type": "tool",
                "model": "m",
                "input": {SHORT: XSS},
                "output": {SHORT: XSS},
            },
        ],
        trace_id=f"xss-{SHORT}"[:120],
        name=SHORT,
    )


def _context(browser, live_server, user=None, bypass_csp=True):
    # bypass_csp: prove the escaping itself, not only the CSP, stops every payload.
    context = browser.new_context(bypass_csp=bypass_csp)
    if user is not None:
        context.add_cookies([session_cookie(user, live_server)])
    return context


def _assert_nothing_ran(page, dialogs):
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    # open every collapsed <details> so ontoggle or lazy content would have its chance
    page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
    page.wait_for_timeout(200)
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    injected = page.evaluate("""() => {
        const bad = [];
        document.querySelectorAll('*').forEach(el => {
            for (const attr of el.attributes) {
                if (attr.name.startsWith('on')) bad.push(el.tagName + ' ' + attr.name);
                if (/^\\s*javascript:/i.test(attr.value)) bad.push(el.tagName + ' ' + attr.name + ' javascript:');
            }
        });
        // (the admin's own chrome has SVG icons: look for elements only inside rendered views)
        document.querySelectorAll('.tv-view :is(iframe, object, embed, svg, math, style, details[ontoggle])').forEach(
            el => bad.push(el.tagName));
        document.querySelectorAll('script').forEach(s => {
            if (!s.src && s.type !== 'application/json') bad.push('inline script');
        });
        document.querySelectorAll('img').forEach(img => {
            const src = img.getAttribute('src') || '';
            if (!/^(https?:|data:image\\/(png|jpeg|gif|webp);base64,|\\/static\\/)/.test(src)) bad.push('img ' + src);
        });
        return bad;
    }""")
    assert injected == []


def test_xss_corpus_through_every_component_on_share_page(browser, live_server, project):
    trace = xss_trace(project)
    factories.ScoreConfigFactory(project=project, name=SHORT, categorical=True)
    view = trace_view_create(project=project, name="everything", spec=EVERY_COMPONENT)
    _link, token = share_link_create(view=view, trace=trace)
    context = _context(browser, live_server)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    response = page.goto(f"{live_server.url}/share/{token}/")
    assert response.status == 200
    _assert_nothing_ran(page, dialogs)
    text = page.inner_text("body")
    assert "<script>window.__xss=1</script>" in text  # shown as text
    assert "{{ 7|add:42 }}{% debug %}" in text  # never evaluated as a template
    assert page.locator("[data-component]").count() >= len(EVERY_COMPONENT["components"])
    assert page.locator("img.tv-img").count() == 0  # every image source in the corpus is refused
    context.close()


def test_xss_corpus_on_admin_view_page_with_live_score_controls(browser, live_server, project, member):
    trace = xss_trace(project)
    factories.ScoreConfigFactory(project=project, name=SHORT, categorical=True, description=f"**help** {XSS}")
    view = trace_view_create(project=project, name="everything", spec=EVERY_COMPONENT)
    user = member(project, role="reviewer")
    for bypass in (True, False):
        context = _context(browser, live_server, user, bypass_csp=bypass)
        page = context.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda d, dialogs=dialogs: (dialogs.append(d.message), d.dismiss()))
        response = page.goto(f"{live_server.url}/admin/views/traceview/{view.pk}/trace/{trace.pk}/")
        assert response.status == 200
        assert page.locator("[data-assay-annotations] [data-score-config]").count() == 1  # live controls
        _assert_nothing_ran(page, dialogs)
        context.close()


def test_xss_corpus_through_editor_preview(browser, live_server, project, member):
    trace = xss_trace(project)
    user = member(project, role="curator")
    context = _context(browser, live_server, user)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/admin/views/traceview/editor/?trace={trace.pk}")
    page.fill("#tv-spec", json.dumps(EVERY_COMPONENT))
    page.wait_for_function("document.querySelectorAll('#tv-preview [data-component]').length >= 13")
    _assert_nothing_ran(page, dialogs)
    assert "<script>window.__xss=1</script>" in page.inner_text("#tv-preview")
    context.close()


def test_editor_live_preview_errors_gallery_and_save(browser, live_server, project, member, rag_trace):
    from apps.views.models import TraceView

    user = member(project, role="curator")
    context = _context(browser, live_server, user, bypass_csp=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/views/traceview/editor/?trace={rag_trace.pk}")
    page.get_by_role("button", name="RAG: question, retrieved documents and answer").click()
    preview = page.locator("#tv-preview")
    expect(preview.locator("[data-carousel-pos]")).to_have_text("1 / 2")
    assert "What is the refund window?" in preview.inner_text()
    assert preview.locator(".tv-carousel-item:visible").count() == 1
    preview.locator("[data-carousel-next]").click()
    assert preview.locator(".tv-carousel-item:visible .tv-item-title").inner_text() == "kb/shipping.md"

    spec = json.loads(page.input_value("#tv-spec"))
    del spec["components"][1]["path"]
    spec["components"][2]["span"] = {"type": "robot"}
    page.fill("#tv-spec", json.dumps(spec, indent=2))
    errors = page.locator("#tv-errors")
    errors.get_by_text("components[1].path").wait_for()
    assert "components[2].span.type" in errors.inner_text()
    # Clicking a location selects it in the spec: the bad value, or the component missing a field.
    selection = "el => el.value.slice(el.selectionStart, el.selectionEnd)"
    errors.locator("code", has_text="components[2].span.type").click()
    assert page.eval_on_selector("#tv-spec", selection) == '"robot"'
    errors.locator("code", has_text="components[1].path").click()
    chosen = page.eval_on_selector("#tv-spec", selection)
    assert chosen.startswith("{") and '"type": "carousel"' in chosen and chosen.endswith("}")
    page.fill("#tv-spec", "{ not json")
    errors.get_by_text("Invalid JSON").wait_for()

    page.get_by_role("button", name="Chat conversation").click()
    expect(page.locator("#tv-errors li")).to_have_count(0)  # (no wait_for_function: the CSP forbids eval)
    page.fill("#tv-name", "My chat view")
    page.click("#tv-save")
    page.wait_for_url("**/editor/?trace=*")
    view = TraceView.objects.get(name="My chat view")
    assert view.spec["components"][0]["type"] == "conversation"
    # The saved view can be shared from the editor; the link opens without a session.
    page.click("#tv-share-create")
    expect(page.locator("#tv-share-url")).to_have_value(re.compile(r"/share/[^/]+/$"))
    url = page.input_value("#tv-share-url")
    anonymous = browser.new_context().new_page()
    anonymous.goto(url)
    assert "What is the refund window?" in anonymous.inner_text("body")
    context.close()


def test_scoring_through_inline_score_controls(browser, live_server, project, member, chat_trace):
    from apps.reviews.models import Score

    config = factories.ScoreConfigFactory(project=project, name="correctness", categorical=True)
    view = trace_view_create(
        project=project,
        name="Chat with scores",
        spec={
            "components": [
                {"type": "conversation", "path": ["$.input", "$.output"]},
                {"type": "score_controls", "configs": ["correctness"]},
            ]
        },
    )
    user = member(project, role="reviewer")
    context = _context(browser, live_server, user, bypass_csp=False)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/admin/views/traceview/{view.pk}/trace/{chat_trace.pk}/")
    panel = page.locator(".tv-score-controls [data-assay-annotations]")
    panel.locator('[data-option="correct"]').click()
    panel.locator('[data-action="save"]').click()
    deadline = time.time() + 10
    while time.time() < deadline and not Score.objects.filter(config=config).exists():
        time.sleep(0.1)
    score = Score.objects.get(config=config)
    assert score.label == "correct" and score.author == user and score.span.span_id == "chat-1-s0"
    assert errors == []
    context.close()


def test_reviewing_through_a_view_with_inline_score_controls(browser, live_server, project, member, rag_trace):
    """The review page renders the trace through the queue's default view; the view's score controls point
    at the page's one panel (no second Save), which saves through the queue's submit."""
    from apps.queues.models import ReviewItem
    from apps.queues.services.filling import review_items_add
    from apps.reviews.models import Score
    from apps.traces.models import Span
    from apps.views.services import trace_view_default_set

    config = factories.ScoreConfigFactory(project=project, name="grounded", boolean=True)
    queue = factories.ReviewQueueFactory(project=project, name="rag review")
    queue.score_configs.add(config)
    review_items_add(queue=queue, spans=Span.objects.filter(span_id="rag-1-s0"))
    item = ReviewItem.objects.get(queue=queue)
    view = trace_view_create(
        project=project,
        name="RAG review",
        spec={
            "components": [
                {"type": "markdown", "title": "Question", "path": "$.input.question"},
                {
                    "type": "carousel",
                    "title": "Documents",
                    "span": {"type": "retrieval"},
                    "path": "$.output.documents",
                    "item_title": "$.title",
                    "components": [{"type": "markdown", "path": "$.text"}],
                },
                {"type": "score_controls", "title": "Is the answer grounded?", "configs": ["grounded"]},
            ]
        },
    )
    trace_view_create(project=project, name="Plain", spec={"components": [{"type": "json", "path": "$.output"}]})
    trace_view_default_set(project=project, view=view, queue=queue)
    user = member(project, role="reviewer")
    context = _context(browser, live_server, user, bypass_csp=False)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/admin/queues/reviewqueue/{queue.pk}/review/{item.pk}/")
    body = page.locator(".assay-review-trace .tv-review")
    body.get_by_text("What is the refund window?").wait_for()
    assert body.locator(".tv-carousel-item:visible .tv-item-title").inner_text() == "Refund policy"
    assert body.locator("[data-assay-annotations]").count() == 0  # no second panel in the view
    assert page.locator('[data-action="save"]').count() == 1
    body.locator('[data-focus-score="grounded"]').click()  # focuses the panel's control
    focused = page.locator('[data-review-panel] [data-score-config="grounded"] [data-option="true"]')
    assert focused.evaluate("el => el === document.activeElement")
    focused.click()
    page.locator('[data-review-panel] [data-action="save"]').click()
    deadline = time.time() + 10
    while time.time() < deadline and not Score.objects.filter(config=config).exists():
        time.sleep(0.1)
    score = Score.objects.get(config=config)
    assert score.value == 1 and score.author == user and score.span.span_id == "rag-1-s0"
    # Saved through the queue's submit, exactly as the page's own panel: the review is recorded.
    from apps.queues.models import ReviewSubmission

    assert ReviewSubmission.objects.filter(item=item, reviewer=user).exists()
    # The switcher reloads the page with another view.
    page.select_option(".tv-switcher select", label="Plain")
    page.wait_for_url("**?view=*")
    page.locator(".tv-review div.tv-json").wait_for()
    assert errors == []
    context.close()


@pytest.fixture
def embedding_app():
    """A page on another origin (a loopback http.server) whose body is an iframe of `embedding_app.src`."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = {"src": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = f'<!doctype html><title>app</title><iframe src="{state["src"]}"></iframe>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["origin"] = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("allowed", [True, False])
def test_share_page_embeds_only_on_allowed_origins(browser, live_server, project, chat_trace, embedding_app, allowed):
    project.allowed_origins = [embedding_app["origin"]] if allowed else ["https://elsewhere.example.com"]
    project.save()
    view = factories.TraceViewFactory(project=project)
    _link, token = share_link_create(view=view, trace=chat_trace)
    embedding_app["src"] = f"{live_server.url}/share/{token}/"
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{embedding_app['origin']}/")
    page.wait_for_timeout(1500)
    frame = next((f for f in page.frames if f.url.startswith(live_server.url)), None)
    shown = False
    if frame is not None:
        try:
            shown = "Your order has shipped." in frame.inner_text("body", timeout=2000)
        except Exception:  # noqa: BLE001 - a blocked frame has no readable document
            shown = False
    assert shown is allowed
    context.close()


def test_describe_in_words_opens_the_generated_view_in_the_editor(
    browser, live_server, project, member, rag_trace, settings
):
    generated = {
        "version": 1,
        "components": [
            {"type": "markdown", "title": "Asked", "path": "$.input.question"},
            {
                "type": "carousel",
                "title": "Docs",
                "span": {"type": "retrieval"},
                "path": "$.output.documents",
                "item_title": "$.id",
                "components": [{"type": "markdown", "path": "$.text"}],
            },
        ],
    }
    with StubLLM([json.dumps({"components": [{"type": "markdown"}]}), json.dumps(generated)]) as stub:
        settings.LLM_BASE_URL, settings.LLM_API_KEY, settings.LLM_MODEL = stub.url, "k", "m"
        context = _context(browser, live_server, member(project, role="curator"), bypass_csp=False)
        page = context.new_page()
        page.goto(f"{live_server.url}/admin/views/traceview/editor/?trace={rag_trace.pk}")
        page.fill("#tv-description-words", "The question and the documents")
        page.click("#tv-generate")
        expect(page.locator("#tv-generate-status")).to_contain_text("Opened the generated view")
        assert json.loads(page.input_value("#tv-spec")) == generated
        expect(page.locator("#tv-preview .tv-c-carousel .tv-item-title").first).to_have_text("kb/refunds.md")
        assert len(stub.requests) == 2 and "You can return items" not in stub.requests[0]["body"]
        context.close()


def test_editor_previews_against_a_typed_trace_id(browser, live_server, project, member, chat_trace, rag_trace):
    context = _context(browser, live_server, member(project, role="curator"), bypass_csp=False)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/views/traceview/editor/?template=rag&trace={chat_trace.pk}")
    page.fill("#tv-trace-id", "rag-1")
    page.press("#tv-trace-id", "Enter")
    expect(page.locator("#tv-preview .tv-c-markdown").first).to_contain_text("What is the refund window?")
    page.fill("#tv-trace-id", "no-such-trace")
    page.click("#tv-trace-use")
    expect(page.locator("#tv-errors")).to_contain_text("No such trace.")
    context.close()
