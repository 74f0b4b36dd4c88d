"""Corrections (apps/reviews/services/corrections.py): the newest is the span's expected output."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.reviews.models import Correction
from apps.reviews.services.corrections import correction_record

pytestmark = pytest.mark.django_db


def test_correction_history_newest_is_expected(project, span, member):
    user = member(project)
    correction_record(span=span, value="First try", author=user)
    correction_record(span=span, value={"answer": "Refunds within 30 days"}, author=user)
    span.refresh_from_db()
    assert span.expected == {"answer": "Refunds within 30 days"}
    assert list(Correction.objects.filter(span=span).values_list("value", flat=True)) == [
        "First try",
        {"answer": "Refunds within 30 days"},
    ]
    with pytest.raises(ApplicationError):
        correction_record(span=span, value=None)
