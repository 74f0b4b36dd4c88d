"""Tags (apps/reviews/services/tags.py): who added what and when, and the span and trace caches."""

import pytest

from apps.core.exceptions import ApplicationError
from apps.reviews.models import TagEvent
from apps.reviews.services.tags import tag_add, tag_remove
from apps.traces.models import SpanTag, Tag
from tests import factories

pytestmark = pytest.mark.django_db


def test_tags_added_and_removed_with_who_and_when_and_caches(project, span, member):
    user = member(project)
    sibling = factories.SpanFactory(trace=span.trace)
    tag_add(span=span, name="refund", user=user)
    tag_add(span=span, name="angry", user=user)
    tag_add(span=sibling, name="zzz", source="api")
    assert tag_add(span=span, name="refund", user=user) is False  # already there
    span.refresh_from_db()
    span.trace.refresh_from_db()
    assert span.tags == ["angry", "refund"]
    assert span.trace.tags == ["angry", "refund", "zzz"]
    assert SpanTag.objects.get(span=span, tag__name="refund").added_by == user
    assert tag_remove(span=span, name="refund", user=user) is True
    span.refresh_from_db()
    span.trace.refresh_from_db()
    assert span.tags == ["angry"] and span.trace.tags == ["angry", "zzz"]
    assert Tag.objects.filter(project=project, name="refund").exists()  # the project's tag stays
    events = list(TagEvent.objects.filter(span=span).values_list("tag_name", "action", "user"))
    assert events == [("refund", "add", user.pk), ("angry", "add", user.pk), ("refund", "remove", user.pk)]
    with pytest.raises(ApplicationError, match="200"):
        tag_add(span=span, name="t" * 201)
