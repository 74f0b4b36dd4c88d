"""Server-side time per item: a reviewer's clock on an item starts when they take its reservation
(the item is shown: `review_item_open`, or `review_item_next` through the API) and stops at their
submission. Re-opening an item while the reservation is still theirs and live keeps the start; an
expired reservation taken again starts a new clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce


def reservation_start(user, now: datetime) -> Case:
    """The `reserved_at` a reservation UPDATE writes: kept when the row is already this user's live
    reservation, else `now` (evaluated on the row's old values, in the same statement)."""
    return Case(
        When(Q(reserved_by=user, reserved_until__gt=now), then=Coalesce(F("reserved_at"), Value(now))),
        default=Value(now),
    )


def submission_timing(*, item, user, now: datetime) -> dict[str, Any]:
    """`opened_at` and `seconds_open` for the submission `user` makes now, from the item as locked by
    `review_item_submit` (its reservation not yet released)."""
    if item.reserved_by_id != user.pk or item.reserved_at is None or item.reserved_at > now:
        return {"opened_at": None, "seconds_open": None}
    return {"opened_at": item.reserved_at, "seconds_open": round((now - item.reserved_at).total_seconds(), 3)}
