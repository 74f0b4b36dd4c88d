"""Bodies of the queue admin screens: review page, submit/skip endpoints, kanban board, analytics.

Every view loads the queue through the user's projects (another project's queue is a 404 like a
missing one) and checks the role it needs explicitly.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, IntegerField, OuterRef, Subquery, prefetch_related_objects
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core import registry
from apps.core.exceptions import ApplicationError
from apps.core.json_preview import is_chat_messages
from apps.core.markdown import render_markdown
from apps.core.parsing import json_parse
from apps.projects.permissions import can
from apps.traces.models import Span

from . import analytics, selectors, services
from .models import ItemStatus, ReviewItem, ReviewQueue, ReviewSubmission

PANEL_TEMPLATE = "reviews/_annotation_panel.html"
SUBMIT_KEYS = {"scores", "comment", "tags", "remove_tags", "expected", "metadata"}
MAX_TREE_SPANS = 300
MAX_ASSIGNEES = 500


def _queue_or_404(request, queue_id: int, action: str = "project.view") -> ReviewQueue:
    """The queue (with its project, the user's role there and whether they are among its assignees) if
    the user may see it, in one query. The role is kept on this request's user object as its roles map
    for the services' and the panel's policy checks (`permissions.role_in`); these views decide nothing
    about other projects (a project missing from the map is read from the database)."""
    from apps.projects.models import Membership

    user = request.user
    queue = ReviewQueue.objects.filter(pk=queue_id).select_related("project").annotate(
        _role=Subquery(Membership.objects.filter(user_id=user.pk, project_id=OuterRef("project_id"))
                       .values("role")[:1]),
        _has_assignees=Exists(ReviewQueue.assignees.through.objects.filter(reviewqueue_id=OuterRef("pk"))),
        _user_assigned=Exists(ReviewQueue.assignees.through.objects.filter(
            reviewqueue_id=OuterRef("pk"), user_id=user.pk)),
    ).first()
    if queue is None or not user.is_authenticated or (queue._role is None and not user.is_superuser):
        raise Http404("Review queue not found.")
    roles = {queue.project_id: queue._role} if queue._role is not None else {}
    user._assay_roles = roles  # this request's user object only
    if not can(user, action, queue.project, roles=roles):
        raise Http404("Review queue not found.")
    return queue


def _item_or_404(queue: ReviewQueue, item_id: int, user=None) -> ReviewItem:
    items = ReviewItem.objects.filter(queue=queue, pk=item_id)
    if user is not None and user.is_authenticated:
        items = services.with_user_state(items, user)  # submitted/skipped in the same query
    item = items.select_related("span__trace", "span__project", "assignee", "reserved_by").first()
    if item is None:
        raise Http404("Item not found.")
    item.queue = queue  # loaded once per request (with its project), not again by the services
    return item


def _json_error(exc: ApplicationError) -> JsonResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


def _ctx(admin_site, request, **extra) -> dict[str, Any]:
    return {**(admin_site.each_context(request) if admin_site else {}), **extra}


# ---------------------------------------------------------------- review page


def review_next_view(request, queue_id: int, admin_site=None):
    """Reserve the reviewer's next item and open it; a page saying so when nothing is left."""
    queue = _queue_or_404(request, queue_id)
    try:
        item = services.review_item_next(queue=queue, user=request.user)
    except ApplicationError as exc:
        return render(request, "admin/queues/review_done.html", _ctx(
            admin_site, request, title=queue.name, queue=queue, error=exc.message,
            progress=selectors.queue_progress(queue=queue, user=request.user, with_done=True)), status=exc.status)
    if item is not None:
        return redirect("admin:queues_reviewqueue_review_item", queue.pk, item.pk)
    queue.refresh_from_db()
    return render(request, "admin/queues/review_done.html", _ctx(
        admin_site, request, title=queue.name, queue=queue,
        progress=selectors.queue_progress(queue=queue, user=request.user, with_done=True),
        last=ReviewSubmission.objects.filter(item__queue=queue, reviewer=request.user).order_by("-id")
        .values_list("item_id", flat=True).first(),
    ))


def _span_tree(span: Span) -> list[dict[str, Any]]:
    """The trace's spans in tree order with depth (at most MAX_TREE_SPANS)."""
    rows = list(
        Span.objects.filter(trace_id=span.trace_id)
        .only("id", "span_id", "parent_span_id", "name", "type", "duration_ms", "is_error", "start_time")
        .order_by("start_time", "id")[: MAX_TREE_SPANS + 1]
    )
    truncated = len(rows) > MAX_TREE_SPANS
    rows = rows[:MAX_TREE_SPANS]
    ids = {r.span_id for r in rows}
    children: dict[str, list[Span]] = {}
    for r in rows:
        parent = r.parent_span_id if r.parent_span_id in ids else ""
        children.setdefault(parent, []).append(r)
    out: list[dict[str, Any]] = []

    def walk(parent: str, depth: int) -> None:
        for child in children.get(parent, []):
            # A class per depth (capped), not an inline style: the admin's CSP allows no inline styles.
            out.append({"span": child, "depth": depth, "depth_class": min(depth, 8), "current": child.pk == span.pk})
            if child.span_id != parent:
                walk(child.span_id, depth + 1)

    walk("", 0)
    return out + ([{"truncated": True}] if truncated else [])


def _readable(value: Any) -> dict[str, Any]:
    """A value for the default rendering: chat messages as a thread, else indented JSON or text."""
    if value is None:
        return {"empty": True}
    if isinstance(value, dict) and is_chat_messages(value.get("messages")):
        value = value["messages"]
    if is_chat_messages(value):
        messages = []
        for m in value:
            content = m.get("content")
            if isinstance(content, list):
                content = "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
            elif not isinstance(content, str):
                content = json.dumps(content, indent=2, ensure_ascii=False, default=str)
            messages.append({"role": m.get("role", ""), "content": content})
        return {"messages": messages}
    if isinstance(value, dict) and isinstance(value.get("role"), str) and "content" in value:
        return _readable([value])
    if isinstance(value, str):
        return {"text": value}
    return {"json": json.dumps(value, indent=2, ensure_ascii=False, default=str)}


def _review_body(request, queue, span) -> str:
    """The first review body renderer that answers (trace views, or their default view for the trace's
    shape), else the span's input, output and expected value made readable."""
    for renderer in registry.review_body_renderers:
        rendered = renderer(request=request, queue=queue, trace=span.trace, span=span)
        if rendered:
            return render_to_string(rendered["template"], rendered.get("context") or {}, request=request)
    return render_to_string("queues/_readable_io.html", {
        "io_input": _readable(span.input), "io_output": _readable(span.output),
        "io_expected": None if span.expected is None else _readable(span.expected),
    }, request=request)


def _panel_context(request, queue: ReviewQueue, item: ReviewItem, *, can_submit: bool, submitted: bool,
                   configs: list | None = None, span: Span | None = None, visibility=None):
    from apps.reviews.selectors import annotation_panel_context

    configs = list(queue.score_configs.all()) if configs is None else configs
    ctx = annotation_panel_context(request, span or item.span, configs=configs, visibility=visibility)
    # Reviewing a queue item saves through the queue's submit, which records the submission too.
    ctx["panel_state"] = {**ctx["panel_state"],
                          "submitUrl": reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item.pk]),
                          # One Text/JSON choice for the Expected box per queue (kept by review.js).
                          "expectedModeKey": f"assay.review.{queue.pk}.expected-mode"}
    if not can_submit:
        ctx["can_edit"] = False
        ctx["panel_state"]["canEdit"] = False
    return ctx


def _neighbours(queue: ReviewQueue, item: ReviewItem, user) -> tuple[int | None, int | None]:
    """Previous/next in the reviewer's own history of this queue (for k / j)."""
    mine = ReviewSubmission.objects.filter(item__queue=queue, reviewer=user)
    here = mine.filter(item=item).values_list("pk", flat=True).first() if _maybe_submitted(item, user) else None
    if here is None:
        prev = mine.order_by("-id").values_list("item_id", flat=True).first()
        return prev, None
    prev = mine.filter(pk__lt=here).order_by("-id").values_list("item_id", flat=True).first()
    nxt = mine.filter(pk__gt=here).order_by("id").values_list("item_id", flat=True).first()
    return prev, nxt


def _maybe_submitted(item: ReviewItem, user) -> bool:
    return getattr(item, "_state_user_id", None) != user.pk or item._submitted


def _bar_data(queue: ReviewQueue, item: ReviewItem, user) -> tuple[dict, int | None, int | None]:
    """The progress and the history neighbours; for an item the user has not submitted, in one query."""
    if _maybe_submitted(item, user) or not user.is_authenticated:
        prev_id, next_id = _neighbours(queue, item, user)
        return selectors.queue_progress(queue=queue, user=user), prev_id, next_id
    last = (ReviewSubmission.objects.filter(item__queue=queue.pk, reviewer=user).order_by("-id")
            .values("item_id")[:1])
    counts = selectors.queue_user_counts(queue=queue, user=user, extra={
        "prev_id": Subquery(last, output_field=IntegerField())})
    progress = selectors.queue_progress(queue=queue, user=None)
    progress["left_for_you"] = max(queue.open_count - counts["done_open"] - counts["skipped_open"]
                                   - counts["others"], 0)
    if queue.gold_question_rate:
        from .gold_stream import gold_left_for_you

        progress["left_for_you"] += gold_left_for_you(queue=queue, user=user, normal_left=progress["left_for_you"])
    return progress, counts["prev_id"], None


def _item_url(queue: ReviewQueue, item_id: int) -> str:
    return reverse("admin:queues_reviewqueue_review_item", args=[queue.pk, item_id])


def _bar_context(request, queue: ReviewQueue, item: ReviewItem, state: dict) -> dict[str, Any]:
    """The action bar and the page state of an item that is being shown (after its reservation)."""
    progress, prev_id, next_id = _bar_data(queue, item, request.user)
    review_url = reverse("admin:queues_reviewqueue_review", args=[queue.pk])
    return {
        "queue": queue, "item": item, "state": state,
        "progress": progress,
        "page_state": {
            "queueId": queue.pk,
            "itemId": item.pk,
            "url": _item_url(queue, item.pk),
            "title": f"Review · {queue.name}",
            "submitUrl": reverse("admin:queues_reviewqueue_review_submit", args=[queue.pk, item.pk]),
            "skipUrl": reverse("admin:queues_reviewqueue_review_skip", args=[queue.pk, item.pk]),
            "peekUrl": reverse("admin:queues_reviewqueue_review_peek", args=[queue.pk]),
            "itemTemplateUrl": _item_url(queue, 0).replace("/0/", "/{id}/"),
            "reviewUrl": review_url,
            "nextUrl": _item_url(queue, next_id) if next_id
            else (review_url if state["submitted"] or not state["can_submit"] else None),
            "prevUrl": _item_url(queue, prev_id) if prev_id else None,
            "canSubmit": state["can_submit"],
            "submitted": state["submitted"],
            "reservedByOther": state["reserved_by_other"],
        },
    }


def _item_context(request, queue: ReviewQueue, item: ReviewItem, state: dict) -> dict[str, Any]:
    from apps.reviews.selectors import annotations_visible_to, span_as_seen_by

    # Blind queues: the span's expected, tags and reviewer metadata as this reviewer may see them
    # (one visibility decision for the page and its panel).
    visibility = annotations_visible_to(request.user, [item.span_id])
    span = span_as_seen_by(request.user, item.span, visibility=visibility)
    prefetch_related_objects([queue], "score_configs")  # the panel and a view's score controls read them
    return {
        "queue": queue, "item": item, "span": span, "trace": span.trace,
        "instructions_html": render_markdown(queue.instructions),
        "annotation_panel": _panel_context(request, queue, item, can_submit=state["can_submit"],
                                           submitted=state["submitted"], configs=list(queue.score_configs.all()),
                                           span=item.span, visibility=visibility),
        "review_body_html": _review_body(request, queue, span),
        "span_tree": _span_tree(span),
    }


def _item_payload(request, queue: ReviewQueue, item: ReviewItem, state: dict) -> dict[str, Any]:
    """An item as the review page swaps it in: its HTML and what the page needs to show it."""
    html = render_to_string("admin/queues/_review_item.html", _item_context(request, queue, item, state),
                            request=request)
    return {"item_id": item.pk, "url": _item_url(queue, item.pk), "html": html,
            "state": {"canSubmit": state["can_submit"], "submitted": state["submitted"],
                      "reservedByOther": state["reserved_by_other"]}}


def _service_error(exc: ApplicationError):
    if exc.status == 403:
        raise PermissionDenied(exc.message)
    raise Http404(exc.message)


def review_item_view(request, queue_id: int, item_id: int, admin_site=None):
    queue = _queue_or_404(request, queue_id)
    item = _item_or_404(queue, item_id)
    try:
        state = services.review_item_open(item=item, user=request.user)
    except ApplicationError as exc:
        _service_error(exc)
    item = _item_or_404(queue, item_id)
    queue.refresh_from_db()
    context = _ctx(admin_site, request, title=f"Review · {queue.name}",
                   **{**_item_context(request, queue, item, state), **_bar_context(request, queue, item, state)})
    return render(request, "admin/queues/review.html", context)


def review_item_data_view(request, queue_id: int, item_id: int, admin_site=None):
    """GET an item for the one-page loop (back/forward, j/k) without reserving it."""
    queue = _queue_or_404(request, queue_id)
    item = _item_or_404(queue, item_id)
    try:
        services.reviewer_check(queue=queue, user=request.user)
    except ApplicationError as exc:
        return _json_error(exc)
    return JsonResponse(_item_payload(request, queue, item, services.review_item_state(item=item, user=request.user)))


def review_peek_view(request, queue_id: int, admin_site=None):
    """GET the item the reviewer gets next (`?exclude=<id>,<id>`: the one on screen, ones taken since),
    prefetched while they work; nothing is reserved until it is opened."""
    queue = _queue_or_404(request, queue_id)
    exclude = [int(x) for x in request.GET.get("exclude", "").split(",") if x.isdigit()][:50]
    try:
        item = services.review_item_peek(queue=queue, user=request.user, exclude=exclude)
    except ApplicationError as exc:
        return _json_error(exc)
    if item is None:
        return JsonResponse({"item": None, "done_url": reverse("admin:queues_reviewqueue_review", args=[queue.pk])})
    item.queue = queue
    return JsonResponse({"item": _item_payload(request, queue, item,
                                               services.review_item_state(item=item, user=request.user))})


def review_open_view(request, queue_id: int, item_id: int, admin_site=None):
    """POST when an item is shown: reserve it (if free) and answer with its action bar."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue = _queue_or_404(request, queue_id)
    item = _item_or_404(queue, item_id, request.user)
    try:
        # Reads nothing again: the item (with the user's state) was just read, the reservation and the
        # queue's counters are applied to these objects as written.
        state = services.review_item_open(item=item, user=request.user)
    except ApplicationError as exc:
        return _json_error(exc)
    bar = _bar_context(request, queue, item, state)
    return JsonResponse({"state": bar["page_state"],
                         "bar": render_to_string("admin/queues/_review_bar.html", bar, request=request)})


def _post_json(request) -> dict:
    data, _ = json_parse(request.body or b"{}")  # the API's body rules: depth, surrogates, NUL
    if not isinstance(data, dict):
        raise ApplicationError("Expected a JSON object.", fields={"non_field_errors": ["Expected a JSON object."]})
    unknown = sorted(set(data) - SUBMIT_KEYS)
    if unknown:
        raise ApplicationError("Unknown fields.", fields={k: ["Unknown field."] for k in unknown})
    return data


def review_submit_view(request, queue_id: int, item_id: int, admin_site=None):
    """POST the annotation panel's JSON: saves through annotations_submit, records the submission,
    answers with the fresh panel (unless `?html=0`: the review page moves on) and the URL of the
    reviewer's next item."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue = _queue_or_404(request, queue_id)
    # Not read here: the service reads (and locks) it with its span, answering 404 when it is not the queue's.
    item = ReviewItem(pk=item_id, queue=queue)
    try:
        data = _post_json(request)
        kwargs = {k: data[k] for k in ("scores", "comment", "tags", "remove_tags", "metadata") if k in data}
        if "expected" in data:
            kwargs.update(expected=data["expected"], expected_set=True)
        item = services.review_item_submit(item=item, user=request.user, **kwargs)
    except ApplicationError as exc:
        return _json_error(exc)
    answer: dict[str, Any] = {"result": {"submitted": True, "item": item.pk, "status": item.status}}
    if request.GET.get("html") == "0":
        answer["result"]["next_url"] = reverse("admin:queues_reviewqueue_review", args=[queue.pk])
        return JsonResponse(answer)
    item = _item_or_404(queue, item_id)
    panel = _panel_context(request, queue, item, can_submit=True, submitted=True)
    answer["html"] = render_to_string(PANEL_TEMPLATE, {"annotation_panel": panel}, request=request)
    _, next_in_history = _neighbours(queue, item, request.user)
    answer["result"]["next_url"] = (
        _item_url(queue, next_in_history) if next_in_history
        else reverse("admin:queues_reviewqueue_review", args=[queue.pk])
    )
    return JsonResponse(answer)


def review_skip_view(request, queue_id: int, item_id: int, admin_site=None):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue = _queue_or_404(request, queue_id)
    item = _item_or_404(queue, item_id)
    try:
        services.review_item_skip(item=item, user=request.user)
    except ApplicationError as exc:
        return _json_error(exc)
    return JsonResponse({"next_url": reverse("admin:queues_reviewqueue_review", args=[queue.pk])})


# ---------------------------------------------------------------- board


def _board_filters(request, queue: ReviewQueue) -> dict[str, Any]:
    User = get_user_model()
    assignee = request.user if request.GET.get("mine") == "1" else None
    reviewer = None
    raw = request.GET.get("reviewer", "")
    if raw.isdigit():
        reviewer = User.objects.filter(pk=int(raw), memberships__project=queue.project).first()
        if reviewer is None and request.user.is_superuser:
            reviewer = User.objects.filter(pk=int(raw)).first()
    return {"assignee": assignee, "reviewer": reviewer}


def _cards(request, queue: ReviewQueue, status: str, filters: dict, after: int | None = None):
    items = selectors.board_items(queue=queue, status=status, after=after, limit=selectors.BOARD_PAGE + 1, **filters)
    more = len(items) > selectors.BOARD_PAGE
    items = items[: selectors.BOARD_PAGE]
    summaries = selectors.item_score_summaries(queue=queue, items=items, user=request.user)
    cards = [{"item": i, "summary": summaries.get(i.pk, [])} for i in items]
    return cards, more


def _board_queue(request, queue_id: int) -> ReviewQueue:
    """The queue with its score configs read once for every column's cards."""
    queue = _queue_or_404(request, queue_id)
    prefetch_related_objects([queue], "score_configs")
    return queue


def board_view(request, queue_id: int, admin_site=None):
    queue = _board_queue(request, queue_id)
    filters = _board_filters(request, queue)
    counts = selectors.board_counts(queue=queue, **filters)
    columns = []
    for status, label in ItemStatus.choices:
        cards, more = _cards(request, queue, status, filters)
        columns.append({"status": status, "label": label, "count": counts[status], "cards": cards, "more": more})
    User = get_user_model()
    reviewers = User.objects.filter(memberships__project=queue.project).order_by("username").distinct()[:200]
    can_move = selectors.user_may_lead(queue=queue, user=request.user)
    assignable = (
        list(selectors.queue_assignable_users(queue=queue).values("id", "username")[:MAX_ASSIGNEES]) if can_move else []
    )
    return render(request, "admin/queues/board.html", _ctx(
        admin_site, request, title=f"Board · {queue.name}", queue=queue, columns=columns,
        reviewers=reviewers, filters=filters, mine=request.GET.get("mine") == "1",
        can_move=can_move,
        can_review=selectors.user_may_review(queue=queue, user=request.user),
        progress=selectors.queue_progress(queue=queue, user=request.user),
        filtered=any(filters.values()),
        board_state={
            "queueId": queue.pk,
            "itemUrl": reverse("review-item", args=[queue.pk, 0]).replace("/0/", "/{id}/"),
            "columnUrl": reverse("admin:queues_reviewqueue_board_column", args=[queue.pk]),
            "reviewUrl": reverse("admin:queues_reviewqueue_review_item", args=[queue.pk, 0]).replace("/0/", "/{id}/"),
            "query": request.GET.urlencode(),
            "filtered": any(filters.values()),
            "canAssign": can_move,
            "assignees": assignable,
            "me": request.user.pk,
            "mine": request.GET.get("mine") == "1",
        },
    ))


def board_column_view(request, queue_id: int, admin_site=None):
    """More cards of one column (after the last shown), as an HTML fragment."""
    queue = _board_queue(request, queue_id)
    status = request.GET.get("status", "")
    after = request.GET.get("after", "")
    if status not in ItemStatus.values or not after.isdigit():
        return JsonResponse({"error": "Invalid column.", "fields": {"status": ["Give status and after."]}}, status=400)
    cards, more = _cards(request, queue, status, _board_filters(request, queue), after=int(after))
    html = render_to_string("admin/queues/_cards.html", {
        "cards": cards, "queue": queue, "can_move": selectors.user_may_lead(queue=queue, user=request.user),
    }, request=request)
    return JsonResponse({"html": html, "more": more})


# ---------------------------------------------------------------- analytics


def analytics_view(request, queue_id: int, admin_site=None):
    queue = _queue_or_404(request, queue_id)
    data = analytics.queue_analytics(queue)
    data["progress"] = selectors.queue_progress(queue=queue, user=request.user)
    from .quality_admin_views import quality_context

    data["quality"] = quality_context(request, queue)
    return render(request, "admin/queues/analytics.html", _ctx(
        admin_site, request, title=f"Analytics · {queue.name}", queue=queue, **data,
    ))
