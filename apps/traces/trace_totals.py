"""A trace's token and cost sums must fit their columns: the spans of a batch that would overflow them."""

from __future__ import annotations

from .ingest import CleanSpan
from .models import Span

# A trace's sums must fit their columns: tokens a bigint, cost a finite double (with room to spare,
# so no order of summation in the database can overflow).
TOKENS_TOTAL_MAX = 2**63 - 1
COST_TOTAL_MAX = 1e308
_TOTAL_FIELDS = (
    ("metrics.input_tokens", "input token"),
    ("metrics.output_tokens", "output token"),
    ("metrics.total_tokens", "total token"),
    ("metrics.cost", "cost"),
)


def _span_amounts(span: CleanSpan) -> tuple:
    return span.input_tokens, span.output_tokens, span.total_tokens, span.cost


def _fits(amounts: tuple) -> int | None:
    """The index of the first sum over its limit, or None."""
    for i, amount in enumerate(amounts):
        if amount > (COST_TOTAL_MAX if i == 3 else TOKENS_TOTAL_MAX) or amount != amount:
            return i
    return None


def overflowing_spans(
    *, latest: dict[str, tuple[int, CleanSpan]], trace_pks: dict[str, int], totals: dict[int, tuple]
) -> dict[str, dict[str, list[str]]]:
    """Spans that would push their trace's token or cost sums past their columns: {span_id: fields}.

    The stored summaries plus the batch bound the new sums from above; only a trace over a limit by
    that bound (almost never) is checked exactly, from its spans, in the order the items came.
    """
    spans = [span for _, span in latest.values()]
    stored = list(totals.values()) or [(0, 0, 0, 0.0)]
    # The whole batch on top of the largest stored sums: within the limits nearly always, in C loops.
    top = [max(int(t[i] or 0) for t in stored) for i in range(3)]
    bound = (
        top[0] + sum(s.input_tokens for s in spans),
        top[1] + sum(s.output_tokens for s in spans),
        top[2] + sum(s.total_tokens for s in spans),
        max(float(t[3] or 0) for t in stored) + sum(s.cost for s in spans),
    )  # inf: over
    if _fits(bound) is None:
        return {}
    batch: dict[int, list] = {}
    for span in spans:
        sums = batch.setdefault(trace_pks[span.trace_id], [0, 0, 0, 0.0])
        for i, amount in enumerate(_span_amounts(span)):
            sums[i] += amount
    suspects = []
    for pk, sums in batch.items():
        stored = totals.get(pk) or (0, 0, 0, 0.0)
        bound = tuple(int(stored[i] or 0) + sums[i] for i in range(3)) + (float(stored[3] or 0) + sums[3],)
        if _fits(bound) is not None:
            suspects.append(pk)
    if not suspects:
        return {}
    refused: dict[str, dict[str, list[str]]] = {}
    in_batch = set(latest)
    for trace_pk in suspects:
        base = [0, 0, 0, 0.0]
        for row in (
            Span.objects.filter(trace_id=trace_pk)
            .values_list("span_id", "input_tokens", "output_tokens", "total_tokens", "cost")
            .iterator()
        ):
            if row[0] not in in_batch:
                for i, amount in enumerate(row[1:]):
                    base[i] += amount
        for _, span in sorted(
            (pair for pair in latest.values() if trace_pks[pair[1].trace_id] == trace_pk), key=lambda pair: pair[0]
        ):
            after = tuple(b + a for b, a in zip(base, _span_amounts(span), strict=True))
            over = _fits(after)
            if over is None:
                base = list(after)
                continue
            field, what = _TOTAL_FIELDS[over]
            limit = f"{COST_TOTAL_MAX:g}" if over == 3 else str(TOKENS_TOTAL_MAX)
            refused[span.span_id] = {field: [f"The trace's {what} total would exceed {limit}."]}
    return refused
