"""Bodies of the queue admin screens: review page, submit/skip endpoints, kanban board, analytics.

Every view loads the queue through the user's projects (another project's queue is a 404 like a
missing one) and checks the role it needs explicitly.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Subquery, prefetch_related_objects
from django.http import Http404, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core.exceptions import ApplicationError, unknown_fields_refuse
from apps.core.parsing import json_parse
from apps.projects.permissions import can

from . import selectors
from .models import ReviewItem, ReviewQueue, ReviewSubmission
from .review_bar import bar_context, history_neighbours, with_bar_counts
from .review_item import item_context, item_payload, item_url, panel_context
from .selectors import review_item_state, with_user_state
from .services.reviewing import (
    review_item_next,
    review_item_open,
    review_item_peek,
    review_item_skip,
    review_item_submit,
    reviewer_check,
)

PANEL_TEMPLATE = "reviews/_annotation_panel.html"
SUBMIT_KEYS = {"scores", "comment", "tags", "remove_tags", "expected", "metadata"}
MAX_TAKEN_RETRIES = 5


def _queue_or_404(model_admin, request, queue_id: int, action: str = "project.view") -> ReviewQueue:
    """The queue (with its project, the user's role there and whether they are among its assignees) if
    the user may see it, in one query. The role is kept on this request's user object as its roles map
    for the services' and the panel's policy checks (`permissions.role_in`); these views decide nothing
    about other projects (a project missing from the map is read from the database)."""
    from apps.projects.models import Membership

    user = request.user
    queue = (
        model_admin.get_queryset(request)
        .filter(pk=queue_id)
        .select_related("project")
        .annotate(
            _role=Subquery(
                Membership.objects.filter(user_id=user.pk, project_id=OuterRef("project_id")).values("role")[:1]
            ),
            _has_assignees=Exists(ReviewQueue.assignees.through.objects.filter(reviewqueue_id=OuterRef("pk"))),
            _user_assigned=Exists(
                ReviewQueue.assignees.through.objects.filter(reviewqueue_id=OuterRef("pk"), user_id=user.pk)
            ),
        )
        .first()
    )
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
        items = with_user_state(items, user)  # submitted/skipped in the same query
    item = items.select_related("span__trace", "span__project", "assignee", "reserved_by").first()
    if item is None:
        raise Http404("Item not found.")
    item.queue = queue  # loaded once per request (with its project), not again by the services
    return item


def _error_response(exc: ApplicationError) -> JsonResponse:
    return JsonResponse(exc.as_dict(), status=exc.status)


def _ctx(model_admin, request, **extra) -> dict[str, Any]:
    return {**model_admin.admin_site.each_context(request), **extra}


# ---------------------------------------------------------------- review page


def review_next_view(model_admin, request, queue_id: int):
    """Reserve the reviewer's next item and open it; a page saying so when nothing is left."""
    queue = _queue_or_404(model_admin, request, queue_id)
    try:
        item = review_item_next(queue=queue, user=request.user)
    except ApplicationError as exc:
        return _review_done(model_admin, request, queue, status=exc.status, error=exc.message)
    if item is not None:
        return redirect("admin:queues_reviewqueue_review_item", queue.pk, item.pk)
    queue.refresh_from_db()
    last = (
        ReviewSubmission.objects.filter(item__queue=queue, reviewer=request.user)
        .order_by("-id")
        .values_list("item_id", flat=True)
        .first()
    )
    return _review_done(model_admin, request, queue, last=last)


def _review_done(model_admin, request, queue, *, status: int = 200, **extra):
    """The page saying the reviewer has nothing left in the queue (or why they cannot review it)."""
    progress = selectors.queue_progress(queue=queue, user=request.user, with_done=True)
    context = _ctx(model_admin, request, title=queue.name, queue=queue, progress=progress, **extra)
    return render(request, "admin/queues/review_done.html", context, status=status)


def _service_error(exc: ApplicationError):
    if exc.status == 403:
        raise PermissionDenied(exc.message)
    raise Http404(exc.message)


def review_item_view(model_admin, request, queue_id: int, item_id: int):
    from apps.reviews.selectors import project_tag_names

    queue = _queue_or_404(model_admin, request, queue_id)
    item = _item_or_404(queue, item_id)
    try:
        state = review_item_open(item=item, user=request.user)
    except ApplicationError as exc:
        _service_error(exc)
    item = _item_or_404(queue, item_id)
    queue.refresh_from_db()
    context = _ctx(
        model_admin,
        request,
        title=f"Review · {queue.name}",
        **{**item_context(request, queue, item, state), **bar_context(request, queue, item, state)},
        project_tags=project_tag_names(request.user, queue.project),
    )
    return render(request, "admin/queues/review.html", context)


def review_item_data_view(model_admin, request, queue_id: int, item_id: int):
    """GET an item for the one-page loop (back/forward, j/k) without reserving it."""
    queue = _queue_or_404(model_admin, request, queue_id)
    item = _item_or_404(queue, item_id)
    try:
        reviewer_check(queue=queue, user=request.user)
    except ApplicationError as exc:
        return _error_response(exc)
    return JsonResponse(item_payload(request, queue, item, review_item_state(item=item, user=request.user)))


def review_peek_view(model_admin, request, queue_id: int):
    """GET the item the reviewer gets next (`?exclude=<id>,<id>`: the one on screen, ones taken since),
    prefetched while they work; nothing is reserved until it is opened."""
    queue = _queue_or_404(model_admin, request, queue_id)
    exclude = [int(x) for x in request.GET.get("exclude", "").split(",") if x.isdigit()][:50]
    try:
        item = review_item_peek(queue=queue, user=request.user, exclude=exclude)
    except ApplicationError as exc:
        return _error_response(exc)
    if item is None:
        return JsonResponse({"item": None, "done_url": reverse("admin:queues_reviewqueue_review", args=[queue.pk])})
    item.queue = queue
    return JsonResponse({"item": item_payload(request, queue, item, review_item_state(item=item, user=request.user))})


def _opened(request, queue: ReviewQueue, item: ReviewItem, state: dict) -> dict[str, Any]:
    bar = bar_context(request, queue, item, state)
    return {"state": bar["page_state"], "bar": render_to_string("admin/queues/_review_bar.html", bar, request=request)}


def review_open_view(model_admin, request, queue_id: int, item_id: int):
    """POST when an item is shown: reserve it (if free) and answer with its action bar."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue = _queue_or_404(model_admin, request, queue_id)
    item = _item_or_404(queue, item_id, request.user)
    try:
        # Reads nothing again: the item (with the user's state) was just read, the reservation and the
        # queue's counters are applied to these objects as written.
        state = review_item_open(item=item, user=request.user)
    except ApplicationError as exc:
        return _error_response(exc)
    return JsonResponse(_opened(request, queue, item, state))


def _open_next(request, queue: ReviewQueue, *, wanted: str, done: int) -> dict[str, Any]:
    """After a submit or skip (`?open=`): reserve the item the page already shows (`wanted`, its prefetched
    id), so the reviewer's one request takes both; when someone took it meanwhile, or the page had nothing
    prefetched (`next`), the next free item with its HTML (`item`). `{"item": None, "done_url": …}` when
    nothing is left. With `?prefetch=1`, also the item after it (`prefetch`, as `review/peek/` answers):
    the page then needs no request of its own to prefetch."""
    done_url = reverse("admin:queues_reviewqueue_review", args=[queue.pk])
    exclude = [done]
    opened = None
    if wanted.isdigit():
        item = with_bar_counts(queue, int(wanted), request.user)
        if item is not None:
            state = review_item_open(item=item, user=request.user)
            if state["can_submit"] or state["submitted"]:
                opened = {**_opened(request, queue, item, state), "item": None}
            exclude.append(item.pk)
    for _attempt in range(0 if opened else MAX_TAKEN_RETRIES):
        item = review_item_peek(queue=queue, user=request.user, exclude=exclude)
        if item is None:
            return {"item": None, "done_url": done_url}
        item.queue = queue
        state = review_item_open(item=item, user=request.user)
        exclude.append(item.pk)
        if state["can_submit"] or state["submitted"]:
            opened = {**_opened(request, queue, item, state), "item": item_payload(request, queue, item, state)}
            break
    if opened is None:  # taken between each peek and its reservation
        return {"item": None, "done_url": done_url}
    if request.GET.get("prefetch") == "1":
        after = review_item_peek(queue=queue, user=request.user, exclude=exclude)
        opened["prefetch"] = (
            {"item": None, "done_url": done_url}
            if after is None
            else {"item": item_payload(request, queue, after, review_item_state(item=after, user=request.user))}
        )
    return opened


def _post_json(request) -> dict:
    data, _ = json_parse(request.body or b"{}")  # the API's body rules: depth, surrogates, NUL
    if not isinstance(data, dict):
        raise ApplicationError("Expected a JSON object.", fields={"non_field_errors": ["Expected a JSON object."]})
    unknown_fields_refuse(data, SUBMIT_KEYS)
    return data


def review_submit_view(model_admin, request, queue_id: int, item_id: int):
    """POST the annotation panel's JSON: saves through annotations_submit, records the submission,
    answers with the fresh panel (unless `?html=0`: the review page moves on) and the URL of the
    reviewer's next item; with `?open=<id>|next` the next item is opened in the same request (and with
    `&prefetch=1` the one after it is sent along, see `_open_next`)."""
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue = _queue_or_404(model_admin, request, queue_id)
    # Not read here: the service reads (and locks) it with its span, answering 404 when it is not the queue's.
    item = ReviewItem(pk=item_id, queue=queue)
    try:
        data = _post_json(request)
        kwargs = {k: data[k] for k in ("scores", "comment", "tags", "remove_tags", "metadata") if k in data}
        if "expected" in data:
            kwargs.update(expected=data["expected"], expected_set=True)
        prefetch_related_objects([queue], "score_configs")  # the submit and the items rendered after it
        item = review_item_submit(item=item, user=request.user, **kwargs)
    except ApplicationError as exc:
        return _error_response(exc)
    answer: dict[str, Any] = {"result": {"submitted": True, "item": item.pk, "status": item.status}}
    if request.GET.get("html") == "0":
        answer["result"]["next_url"] = reverse("admin:queues_reviewqueue_review", args=[queue.pk])
        if "open" in request.GET:
            answer["opened"] = _open_next(request, queue, wanted=request.GET["open"], done=item.pk)
        return JsonResponse(answer)
    item = _item_or_404(queue, item_id)
    panel = panel_context(request, queue, item, can_submit=True, submitted=True)
    answer["html"] = render_to_string(PANEL_TEMPLATE, {"annotation_panel": panel}, request=request)
    _, next_in_history = history_neighbours(queue, item, request.user)
    answer["result"]["next_url"] = (
        item_url(queue, next_in_history)
        if next_in_history
        else reverse("admin:queues_reviewqueue_review", args=[queue.pk])
    )
    return JsonResponse(answer)


def review_skip_view(model_admin, request, queue_id: int, item_id: int):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    queue = _queue_or_404(model_admin, request, queue_id)
    item = _item_or_404(queue, item_id)
    try:
        review_item_skip(item=item, user=request.user)
    except ApplicationError as exc:
        return _error_response(exc)
    answer: dict[str, Any] = {"next_url": reverse("admin:queues_reviewqueue_review", args=[queue.pk])}
    if "open" in request.GET:
        answer["opened"] = _open_next(request, queue, wanted=request.GET["open"], done=item.pk)
    return JsonResponse(answer)
