"""Demo traces for `manage.py load_demo`: a support assistant's production traffic over 14 days.

Four kinds of traces, all through the real ingest service (`span_batch_ingest`), deterministic
(seeded) so every demo database looks the same:

- `support-agent`: agent → LLM deciding on a tool call → tool → LLM answering (OpenAI chat messages
  with `tool_calls`), sometimes a tool timeout;
- `rag-answer`: pipeline → query embedding → retrieval of documents → LLM answer with the context;
- `ticket-triage`: classification with JSON output;
- `chat`: one LLM call, a short conversation.

About one trace in twelve fails (tool timeouts, rate limits, invalid JSON from the model). User and
session ids, environment and app version sit in the root span's metadata; tags on the root span.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from .services import span_batch_ingest

SEED = 20240611
DAYS = 14
BATCH_SPANS = 400

PRICES = {  # USD per million tokens (input, output)
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "text-embedding-3-small": (0.02, 0.0),
}
SYSTEM_PROMPT = (
    "You are Nimbus, the support assistant of Northwind Outfitters. Answer briefly and politely. "
    "Use the tools to look up orders; never invent order details."
)

PRODUCTS = ["trail runners", "rain jacket", "down parka", "hiking poles", "merino socks", "day pack", "tent"]
CITIES = ["Lyon", "Austin", "Osaka", "Leeds", "Porto", "Denver", "Ghent"]
ORDER_QUESTIONS = [
    "Where is my order {order}? It was supposed to arrive yesterday.",
    "Can you check the status of order {order}?",
    "I ordered {product} (order {order}) and haven't heard anything. Any update?",
    "Has order {order} shipped yet?",
]
REFUND_QUESTIONS = [
    "The {product} I got are the wrong size. Can I return them? Order {order}.",
    "How do I get a refund for order {order}? The {product} arrived damaged.",
    "I want to cancel order {order} before it ships.",
]
KB_DOCS = [
    (
        "returns-policy.md",
        "Items can be returned within 30 days of delivery if unused. Refunds are issued to "
        "the original payment method within 5 business days of the return arriving.",
    ),
    (
        "shipping-times.md",
        "Standard shipping takes 3-5 business days; express takes 1-2. Orders placed after "
        "2 pm ship the next business day.",
    ),
    ("sizing-guide.md", "Our trail runners run half a size small. If you are between sizes, choose the larger."),
    ("warranty.md", "Outerwear carries a 2-year warranty against manufacturing defects. Wear and tear is not covered."),
    ("international.md", "We ship to 40 countries. Duties and taxes are collected at checkout for the EU and UK."),
    ("gift-cards.md", "Gift cards never expire and can be combined with one promo code per order."),
    ("loyalty.md", "Members earn 1 point per dollar; 100 points are worth $5 off the next order."),
    ("care-merino.md", "Wash merino on a cool wool cycle and dry flat. Do not tumble dry."),
]
RAG_QUESTIONS = [
    (
        "How long do refunds take?",
        "returns-policy.md",
        "Refunds reach your original payment method within 5 business days after your return arrives.",
    ),
    (
        "Do your trail runners run true to size?",
        "sizing-guide.md",
        "They run half a size small, so if you're between sizes pick the larger one.",
    ),
    (
        "Is the rain jacket covered by a warranty?",
        "warranty.md",
        "Yes, outerwear has a 2-year warranty against manufacturing defects (not normal wear and tear).",
    ),
    ("How fast is express shipping?", "shipping-times.md", "Express shipping takes 1-2 business days."),
    (
        "Do I pay customs when ordering to Germany?",
        "international.md",
        "No surprises: EU duties and taxes are collected at checkout.",
    ),
    (
        "Can I use two promo codes?",
        "gift-cards.md",
        "Only one promo code per order, though you can combine it with gift cards.",
    ),
    ("How do I wash merino socks?", "care-merino.md", "Cool wool cycle, then dry flat; don't tumble dry."),
    ("How many points do I need for a discount?", "loyalty.md", "100 points give you $5 off your next order."),
]
TRIAGE_TICKETS = [
    ("My parka zipper broke after two weeks.", "warranty", "high"),
    ("Can you ship to Norway?", "shipping", "low"),
    ("I was charged twice for order {order}!", "billing", "urgent"),
    ("What's your return window?", "returns", "low"),
    ("The tent arrived without poles.", "damaged_or_missing", "high"),
    ("Please delete my account and data.", "privacy", "high"),
]
SMALL_TALK = [
    ("Hi! Are you a bot?", "I'm Nimbus, Northwind's virtual assistant. How can I help you today?"),
    ("What are your opening hours?", "Our online store is always open; human support answers 8am-8pm CET."),
    ("Thanks, that's all!", "You're welcome! Have a great day outdoors."),
    ("Do you have a store in Lyon?", "We don't have physical stores yet, but we ship to Lyon in 2-4 days."),
]


class _Trace:
    """Builds the span dicts of one trace, with times laid out from its start."""

    def __init__(self, rng: random.Random, start: datetime, name: str):
        self.rng = rng
        self.start = start
        self.name = name
        self.trace_id = uuid.UUID(int=rng.getrandbits(128)).hex
        self.spans: list[dict[str, Any]] = []

    def span_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}"

    def at(self, ms: float) -> str:
        return (self.start + timedelta(milliseconds=ms)).isoformat()

    def add(
        self, *, name: str, type: str, parent: str = "", begin_ms: float, duration_ms: float, **fields: Any
    ) -> dict:
        span = {
            "trace_id": self.trace_id,
            "span_id": self.span_id(),
            "parent_span_id": parent,
            "name": name,
            "type": type,
            "start_time": self.at(begin_ms),
            "end_time": self.at(begin_ms + duration_ms),
            **fields,
        }
        self.spans.append(span)
        return span

    def root(self, *, type: str, **fields: Any) -> dict:
        """The root span, named for the trace; its end is set by `finish`."""
        return self.add(name=self.name, type=type, begin_ms=0, duration_ms=0, **fields)

    def child(self, parent: dict, **fields: Any) -> dict:
        return self.add(parent=parent["span_id"], **fields)

    def llm(self, parent: dict, *, model: str, tokens: tuple[int, int], **fields: Any) -> dict:
        """An LLM call under `parent`, its metrics priced from `tokens` (input, output)."""
        return self.child(parent, type="llm", metrics=_llm_metrics(model, *tokens), **fields)

    def finish(self, root: dict, end_ms: float) -> list[dict]:
        root["end_time"] = self.at(end_ms)
        return self.spans


def _llm_metrics(model: str, input_tokens: int, output_tokens: int) -> dict:
    price_in, price_out = PRICES[model]
    cost = (input_tokens * price_in + output_tokens * price_out) / 1_000_000
    return {
        "model": model,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
        "cost": round(cost, 8),
    }


def _llm_latency(rng: random.Random, output_tokens: int) -> float:
    return rng.uniform(250, 700) + output_tokens * rng.uniform(8, 22)


def _context(rng: random.Random, users: list[str]) -> dict:
    user = rng.choice(users)
    return {
        "user_id": user,
        "session_id": f"sess-{user[-3:]}-{rng.randint(1, 4)}",
        "environment": "production" if rng.random() < 0.9 else "staging",
        "app_version": rng.choice(["2.3.0", "2.3.1", "2.4.0"]),
        "channel": rng.choice(["web", "web", "mobile", "email"]),
        "locale": rng.choice(["en-US", "en-GB", "fr-FR", "ja-JP"]),
    }


def _root_tags(rng: random.Random, meta: dict, extra: list[str]) -> list[str]:
    tags = list(extra)
    if meta["environment"] == "staging":
        tags.append("staging")
    if rng.random() < 0.08:
        tags.append("vip")
    if meta["app_version"] == "2.4.0":
        tags.append("beta")
    return tags


def _tool_result(rng: random.Random, start: datetime, *, refund: bool, order: str, product: str) -> dict:
    if refund:
        return {
            "order_id": order,
            "eligible": rng.random() < 0.75,
            "days_since_delivery": rng.randint(2, 45),
            "item": product,
        }
    return {
        "order_id": order,
        "status": rng.choice(["shipped", "in_transit", "delivered", "processing"]),
        "carrier": rng.choice(["UPS", "DHL", "La Poste"]),
        "eta": (start + timedelta(days=rng.randint(0, 4))).date().isoformat(),
        "destination": rng.choice(CITIES),
    }


def _support_answer(*, refund: bool, order: str, result: dict) -> str:
    if not refund:
        return (
            f"Your order {order} is {result['status'].replace('_', ' ')} with {result['carrier']} and "
            f"should arrive by {result['eta']}."
        )
    if result["eligible"]:
        return (
            f"Good news: order {order} is eligible for a refund. I've started the return; you'll get a "
            "prepaid label by email."
        )
    return (
        f"I'm sorry, order {order} was delivered {result['days_since_delivery']} days ago, past our "
        "30-day return window. I can offer store credit instead."
    )


class _Support:
    """What one support-agent trace is about: the question, the tool the model calls, the messages."""

    def __init__(self, rng: random.Random):
        self.order = f"NW-{rng.randint(10000, 99999)}"
        self.product = rng.choice(PRODUCTS)
        self.refund = rng.random() < 0.4
        questions = REFUND_QUESTIONS if self.refund else ORDER_QUESTIONS
        self.question = rng.choice(questions).format(order=self.order, product=self.product)
        self.model = rng.choice(["gpt-4o-mini", "gpt-4o-mini", "gpt-4o"])
        self.tool = "refund_policy_check" if self.refund else "lookup_order"
        self.user_msg = {"role": "user", "content": self.question}
        self.system_msg = {"role": "system", "content": SYSTEM_PROMPT}
        self.call_id = f"call_{rng.getrandbits(40):010x}"
        self.arguments = {"order_id": self.order}
        if self.refund:
            self.arguments["reason"] = "customer_request"
        function = {"name": self.tool, "arguments": json.dumps(self.arguments)}
        self.tool_call_msg = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": self.call_id, "type": "function", "function": function}],
        }


def _support_agent(rng: random.Random, start: datetime, users: list[str]) -> list[dict]:
    t = _Trace(rng, start, "support-agent")
    meta = _context(rng, users)
    c = _Support(rng)
    failure = rng.random()
    root = t.root(
        type="task",
        input={"messages": [c.user_msg]},
        metadata=meta,
        tags=_root_tags(rng, meta, ["refund" if c.refund else "shipping"]),
    )
    in1, out1 = rng.randint(380, 650), rng.randint(18, 40)
    d1 = _llm_latency(rng, out1)
    clock = rng.uniform(5, 30)
    t.llm(
        root,
        model=c.model,
        tokens=(in1, out1),
        name="plan",
        begin_ms=clock,
        duration_ms=d1,
        input={
            "messages": [c.system_msg, c.user_msg],
            "tools": [{"type": "function", "function": {"name": c.tool}}],
            "temperature": 0.2,
        },
        output=c.tool_call_msg,
        metadata={"temperature": 0.2},
    )
    clock += d1
    if failure < 0.05:  # the order service times out; the agent gives up
        dt = 10_000 + rng.uniform(0, 50)
        error = {"message": f"TimeoutError: {c.tool} did not answer within 10s", "type": "TimeoutError"}
        t.child(root, name=c.tool, type="tool", begin_ms=clock, duration_ms=dt, input=c.arguments, error=error)
        root["output"] = {
            "role": "assistant",
            "content": "Sorry, I can't reach our order system right now. Please try again in a few minutes.",
        }
        root["error"] = f"Tool {c.tool} timed out"
        return t.finish(root, clock + dt + rng.uniform(2, 15))
    result = _tool_result(rng, start, refund=c.refund, order=c.order, product=c.product)
    dt = rng.uniform(40, 400)
    t.child(root, name=c.tool, type="tool", begin_ms=clock, duration_ms=dt, input=c.arguments, output=result)
    clock += dt
    answer = _support_answer(refund=c.refund, order=c.order, result=result)
    tool_msg = {"role": "tool", "tool_call_id": c.call_id, "content": json.dumps(result)}
    in2, out2 = in1 + rng.randint(60, 140), rng.randint(30, 90)
    d2 = _llm_latency(rng, out2)
    answer_span = t.llm(
        root,
        model=c.model,
        tokens=(in2, out2),
        name="answer",
        begin_ms=clock,
        duration_ms=d2,
        input={"messages": [c.system_msg, c.user_msg, c.tool_call_msg, tool_msg], "temperature": 0.2},
        output={"role": "assistant", "content": answer},
        metadata={"temperature": 0.2},
    )
    if failure < 0.08:  # rate limited on the final answer
        answer_span.pop("output")
        answer_span["error"] = {
            "message": "RateLimitError: 429 Too Many Requests (tokens per minute)",
            "type": "RateLimitError",
        }
        root["error"] = "LLM rate limit"
        root["output"] = {"role": "assistant", "content": "I'm having trouble right now; please retry."}
    else:
        root["output"] = {"role": "assistant", "content": answer}
    return t.finish(root, clock + d2 + rng.uniform(2, 15))


def _rag_documents(rng: random.Random, source: str) -> list[dict]:
    top = [next(doc for doc in KB_DOCS if doc[0] == source)] + rng.sample(
        [doc for doc in KB_DOCS if doc[0] != source], 2
    )
    return [
        {"id": name, "score": round(rng.uniform(0.78, 0.93) - i * 0.07, 3), "text": text}
        for i, (name, text) in enumerate(top)
    ]


def _rag_messages(question: str, documents: list[dict]) -> list[dict]:
    context = "\n\n".join(f"[{doc['id']}] {doc['text']}" for doc in documents)
    return [
        {"role": "system", "content": SYSTEM_PROMPT + "\nAnswer only from the context and cite the source id."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": f"Context:\n{context}"},
                {"type": "text", "text": f"Question: {question}"},
            ],
        },
    ]


def _rag_answer(rng: random.Random, start: datetime, users: list[str]) -> list[dict]:
    t = _Trace(rng, start, "rag-answer")
    meta = _context(rng, users)
    question, source, answer = rng.choice(RAG_QUESTIONS)
    model = rng.choice(["gpt-4o-mini", "claude-3-5-haiku"])
    root = t.root(type="task", input={"question": question}, metadata=meta, tags=_root_tags(rng, meta, ["kb"]))
    d = rng.uniform(30, 120)
    q_tokens = len(question.split()) * 2
    clock = 3.0
    embedding = {"dimensions": 1536}
    t.llm(
        root,
        model="text-embedding-3-small",
        tokens=(q_tokens, 0),
        name="embed-query",
        begin_ms=clock,
        duration_ms=d,
        input=question,
        output=embedding,
    )
    clock += d
    documents = _rag_documents(rng, source)
    d = rng.uniform(20, 180)
    t.child(
        root,
        name="vector-search",
        type="retrieval",
        begin_ms=clock,
        duration_ms=d,
        input={"query": question, "top_k": 3, "index": "kb-2024-06"},
        output={"documents": documents},
        metadata={"index": "kb-2024-06"},
    )
    clock += d
    in_t, out_t = rng.randint(420, 900), rng.randint(25, 80)
    d = _llm_latency(rng, out_t)
    llm = t.llm(
        root,
        model=model,
        tokens=(in_t, out_t),
        name="generate-answer",
        begin_ms=clock,
        duration_ms=d,
        input={"messages": _rag_messages(question, documents), "temperature": 0},
        metadata={"temperature": 0},
    )
    clock += d
    if rng.random() < 0.06:
        llm["error"] = {"message": "APIConnectionError: connection reset by peer", "type": "APIConnectionError"}
        root["error"] = "LLM call failed"
        return t.finish(root, clock + rng.uniform(1, 8))
    final = f"{answer} [{source}]"
    llm["output"] = {"role": "assistant", "content": final}
    d = rng.uniform(1, 6)
    citations = {"citations": [source]}
    t.child(
        root,
        name="cite-sources",
        type="function",
        begin_ms=clock,
        duration_ms=d,
        input={"answer": final},
        output=citations,
    )
    clock += d
    root["output"] = {"answer": final, "sources": [source]}
    if rng.random() < 0.25:  # an earlier reviewer wrote the ideal answer
        root["expected"] = {"answer": f"{answer} [{source}]", "sources": [source]}
    return t.finish(root, clock + rng.uniform(1, 8))


def _ticket_triage(rng: random.Random, start: datetime, users: list[str]) -> list[dict]:
    t = _Trace(rng, start, "ticket-triage")
    meta = _context(rng, users)
    text, category, priority = rng.choice(TRIAGE_TICKETS)
    text = text.format(order=f"NW-{rng.randint(10000, 99999)}")
    root = t.root(type="function", input={"ticket": text}, metadata=meta, tags=_root_tags(rng, meta, ["triage"]))
    in_t, out_t = rng.randint(180, 260), rng.randint(15, 30)
    d = _llm_latency(rng, out_t)
    messages = [
        {
            "role": "system",
            "content": 'Classify the support ticket. Answer JSON: {"category": ..., "priority": "low|high|urgent"}',
        },
        {"role": "user", "content": text},
    ]
    llm = t.llm(
        root,
        model="gpt-4o-mini",
        tokens=(in_t, out_t),
        name="classify",
        begin_ms=2,
        duration_ms=d,
        input={"messages": messages, "response_format": {"type": "json_object"}},
    )
    parse = {"name": "parse-json", "type": "function", "begin_ms": d + 3, "duration_ms": 0.4}
    if rng.random() < 0.07:
        raw = '{"category": "' + category + '", "priority": '
        llm["output"] = {"role": "assistant", "content": raw}
        t.child(root, **parse, input=raw, error="JSONDecodeError: Expecting value: line 1 column 37 (char 36)")
        root["error"] = "Model returned invalid JSON"
    else:
        label = {"category": category, "priority": priority}
        llm["output"] = {"role": "assistant", "content": json.dumps(label)}
        t.child(root, **parse, input=llm["output"]["content"], output=label)
        root["output"] = label
        if rng.random() < 0.3:
            root["expected"] = label
    return t.finish(root, d + 5)


def _chat(rng: random.Random, start: datetime, users: list[str]) -> list[dict]:
    t = _Trace(rng, start, "chat")
    meta = _context(rng, users)
    question, answer = rng.choice(SMALL_TALK)
    model = rng.choice(["gpt-4o-mini", "claude-3-5-haiku"])
    in_t, out_t = rng.randint(90, 160), rng.randint(12, 40)
    d = _llm_latency(rng, out_t)
    t.add(
        name="chat",
        type="llm",
        begin_ms=0,
        duration_ms=d,
        input=[{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}],
        output={"role": "assistant", "content": answer},
        metrics=_llm_metrics(model, in_t, out_t),
        metadata=meta,
        tags=_root_tags(rng, meta, ["smalltalk"]),
    )
    return t.spans


KINDS = [(_support_agent, 0.4), (_rag_answer, 0.3), (_ticket_triage, 0.15), (_chat, 0.15)]


def demo_trace_spans(*, traces: int, now: datetime | None = None, seed: int = SEED) -> list[list[dict]]:
    """The span items of `traces` demo traces (deterministic for a seed and `now`)."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    users = [f"user-{i:03d}" for i in range(1, 41)]
    builders, weights = zip(*KINDS, strict=True)
    out = []
    for _ in range(traces):
        # More traffic on recent days, and in working hours.
        age = timedelta(days=min(DAYS, rng.expovariate(1 / 5)) if rng.random() < 0.8 else rng.uniform(0, DAYS))
        start = (now - age).replace(
            hour=rng.choice(range(7, 23)),
            minute=rng.randint(0, 59),
            second=rng.randint(0, 59),
            microsecond=rng.randint(0, 999_999),
        )
        if start > now:
            start -= timedelta(days=1)
        start = max(start, now - timedelta(days=DAYS) + timedelta(minutes=rng.randint(1, 600)))
        builder = rng.choices(builders, weights=weights)[0]
        out.append(builder(rng, start, users))
    return out


def load_demo_traces(*, project, traces: int = 240, stdout=None) -> None:
    """Ingest `traces` demo traces into `project` through the ingest service."""
    batch: list[dict] = []
    accepted = 0
    for spans in demo_trace_spans(traces=traces):
        batch.extend(spans)
        if len(batch) >= BATCH_SPANS:
            accepted += _ingest(project, batch)
            batch = []
    if batch:
        accepted += _ingest(project, batch)
    if stdout is not None:
        stdout.write(f"Demo traces: {traces} traces, {accepted} spans.")


def _ingest(project, batch: list[dict]) -> int:
    result = span_batch_ingest(project=project, items=batch)
    if result.rejected:  # the demo data is ours: a rejection is a bug in this module
        raise ValueError(f"demo spans rejected: {result.rejected[:3]}")
    return result.accepted
