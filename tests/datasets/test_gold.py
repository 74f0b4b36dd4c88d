"""Gold into datasets: the adjudicated Expected and scores become the record's, through the service, the API
and the admin mapping form, and the record says who adjudicated it."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.datasets.models import DatasetRecord
from apps.datasets.services.spans import dataset_add_spans
from apps.projects.models import Role
from apps.queues.adjudication import item_adjudicate
from tests import factories
from tests.projects.world import member
from tests.queues.gold_world import standalone

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold(project):
    w = standalone(project)
    item_adjudicate(
        actor=w.lead,
        item=w.items[0],
        decisions={"tone": {"from": w.bob.pk}, "quality": {"value": 6}},
        expected={"from": w.alice.pk},
        note="policy",
    )
    return w


def _record(dataset, span):
    return DatasetRecord.objects.get(dataset=dataset, record_id=f"span:{span.span_id}", version_to__isnull=True)


def test_auto_takes_the_gold_expected_and_records_the_adjudication(project, gold):
    dataset = factories.DatasetFactory(project=project)
    gold_span, plain = gold.items[0].span, gold.items[2].span
    # The newest correction on the gold span is bob's; the dataset must not silently take it.
    assert gold_span.__class__.objects.get(pk=gold_span.pk).expected == {"answer": "14 days"}
    dataset_add_spans(dataset=dataset, span_pks=[gold_span.pk, plain.pk], mapping={})
    record = _record(dataset, gold_span)
    assert record.expected == {"answer": "30 days"}
    meta = record.metadata["assay"]
    assert meta["adjudicated"] is True and meta["adjudicated_by"] == "lead" and meta["expected_from_gold"] is True
    assert meta["gold_scores"] == {"tone": "rude", "quality": 6.0}
    assert meta["review_items"] == [gold.items[0].pk] and meta["adjudicated_at"]
    assert "assay" not in _record(dataset, plain).metadata


def test_expected_source_gold_and_correction(project, gold):
    dataset = factories.DatasetFactory(project=project)
    gold_span, plain = gold.items[0].span, gold.items[2].span
    dataset_add_spans(dataset=dataset, span_pks=[gold_span.pk, plain.pk], mapping={"expected_source": "gold"})
    assert _record(dataset, gold_span).expected == {"answer": "30 days"}
    assert _record(dataset, plain).expected is None
    other = factories.DatasetFactory(project=project, name="corrections")
    dataset_add_spans(dataset=other, span_pks=[gold_span.pk], mapping={"expected_source": "correction"})
    record = _record(other, gold_span)
    assert record.expected == {"answer": "14 days"} and record.metadata["assay"]["expected_from_gold"] is False


def test_api_add_spans_takes_gold(project, gold):
    dataset = factories.DatasetFactory(project=project)
    client = APIClient()
    client.force_login(member(project, Role.CURATOR, "curator"))
    res = client.post(
        f"/api/v1/datasets/{dataset.pk}/add-spans/", {"span_ids": [gold.items[0].span.span_id]}, format="json"
    )
    assert res.status_code == 201, res.json()
    records = client.get(f"/api/v1/datasets/{dataset.pk}/records/").json()["results"]
    assert records[0]["expected"] == {"answer": "30 days"}
    assert records[0]["metadata"]["assay"]["gold_scores"]["tone"] == "rude"


def test_admin_mapping_form_says_how_many_have_gold_and_takes_it(project, gold):
    from apps.traces.models import Span

    dataset = factories.DatasetFactory(project=project)
    curator = member(project, Role.CURATOR, "curator")
    curator.is_staff = True
    curator.save()
    client = Client()
    client.force_login(curator)
    pks = [str(i.span.pk) for i in gold.items]
    url = "/admin/traces/span/"
    page = client.post(url, {"action": "add_to_dataset", "_selected_action": pks})
    assert page.status_code == 200
    assert "1 of them has gold values" in page.content.decode()
    assert 'value="gold"' in page.content.decode()
    res = client.post(
        url,
        {
            "action": "add_to_dataset",
            "_selected_action": pks,
            "apply": "1",
            "dataset": dataset.pk,
            "expected_source": "auto",
            "carry_annotations": "",
        },
    )
    assert res.status_code in (200, 302)
    assert _record(dataset, Span.objects.get(pk=gold.items[0].span.pk)).expected == {"answer": "30 days"}
