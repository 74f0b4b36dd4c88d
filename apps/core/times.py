"""The one time parser: ISO 8601 text to an aware UTC datetime that both databases store.

PostgreSQL refuses UTC offsets of 16 hours or more (Python accepts up to 24) and a moment that
moves past year 1 or 9999 when converted to UTC overflows Python's datetime. Both are refused
here, with a message, instead of failing in the database. Used by ingest times and by every date
filter (`BoundedIsoDateTimeField`, the filters in `apps.core.filters`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

OFFSET_LIMIT = timedelta(hours=16)  # exclusive: -15:59 … +15:59 (PostgreSQL's limit)
OFFSET_MESSAGE = "The UTC offset must be between -15:59 and +15:59."
RANGE_MESSAGE = "Out of range (years 1 to 9999 in UTC)."
FORMAT_MESSAGE = "Expected an ISO 8601 date-time, e.g. 2025-01-31T12:00:00Z."


class TimeError(ValueError):
    """A date-time that cannot be stored; `str()` is the message for the user."""


def datetime_bounded(moment: datetime) -> datetime:
    """`moment` in UTC (naive means UTC); TimeError for offsets beyond ±15:59 or out of range."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    offset = moment.utcoffset()
    if offset is not None and abs(offset) >= OFFSET_LIMIT:
        raise TimeError(OFFSET_MESSAGE)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise TimeError(RANGE_MESSAGE) from None


def datetime_parse(text: str) -> datetime:
    """ISO 8601 text (`Z` or an offset; none means UTC) as an aware UTC datetime. Raises TimeError."""
    if not isinstance(text, str):
        raise TimeError(FORMAT_MESSAGE)
    text = text.strip()
    if not text or len(text) > 64:
        raise TimeError(FORMAT_MESSAGE)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TimeError(FORMAT_MESSAGE) from None
    return datetime_bounded(parsed)
