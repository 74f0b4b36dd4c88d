"""Demo data: a dataset built from the demo spans with several versions, a version tag and splits."""

from __future__ import annotations

from apps.projects.models import Role
from apps.projects.services import demo_member
from apps.traces.models import Span

from .models import Dataset
from .selectors import dataset_records_at_version
from .services.datasets import dataset_create
from .services.records import dataset_records_delete, dataset_records_upsert
from .services.spans import dataset_add_from_feedback, dataset_add_spans
from .services.versions import dataset_version_tag_set

HAND_WRITTEN = [
    {
        "record_id": "manual:refund-window",
        "input": {"question": "How long do I have to return an item?"},
        "expected": "You can return any item within 30 days of delivery for a full refund.",
        "metadata": {"topic": "refunds", "difficulty": "easy"},
        "tags": ["refunds"],
        "splits": ["test"],
    },
    {
        "record_id": "manual:damaged-item",
        "input": {"question": "My parcel arrived damaged, what now?"},
        "expected": "Sorry about that! Send us a photo from the order page and we ship a replacement at no cost.",
        "metadata": {"topic": "shipping", "difficulty": "medium"},
        "tags": ["shipping"],
        "splits": ["test"],
    },
    {
        "record_id": "manual:refund-no-receipt",
        "input": {"question": "Can I get a refund without a receipt?"},
        "expected": "Yes: we find the order from your email address, no receipt needed.",
        "metadata": {"topic": "refunds", "difficulty": "hard"},
        "tags": ["refunds", "edge-case"],
        "splits": ["test"],
    },
]


def load_demo_datasets(*, project, traces, stdout) -> None:
    if Dataset.objects.filter(project=project, name="support-golden").exists():
        return
    curator = demo_member(project=project, username="demo-curator", role=Role.CURATOR)
    dataset = dataset_create(
        project=project,
        name="support-golden",
        created_by=curator,
        description="Golden support questions: curated from production traces and by hand.",
    )
    roots = Span.objects.filter(project=project, parent_span_id="").order_by("start_time", "id")
    root_pks = list(roots.values_list("pk", flat=True)[:40])
    if root_pks:
        dataset_add_spans(
            dataset=dataset,
            span_pks=root_pks[:30],
            author=curator,
            mapping={"carry_annotations": True, "splits": ["train"], "metadata_keys": ["*"]},
            message="First 30 production conversations",
        )
    dataset_records_upsert(
        dataset=dataset, records=HAND_WRITTEN, author=curator, message="Hand-written refund and shipping edge cases"
    )
    dataset_version_tag_set(dataset=dataset, name="baseline", version=dataset.latest_version, author=curator)
    if root_pks[30:]:
        dataset_add_spans(
            dataset=dataset,
            span_pks=root_pks[30:],
            author=curator,
            mapping={"carry_annotations": True, "splits": ["test"]},
            message="Ten more conversations for the test split",
        )
    _curator_edits(dataset, curator)
    feedback = dataset_add_from_feedback(
        dataset=dataset, author=curator, message="Thumbs-down answers with a reviewer's correction"
    )
    dataset_version_tag_set(dataset=dataset, name="prod", version=dataset.latest_version, author=curator)
    if feedback.version is not None:
        stdout.write(f"  dataset support-golden: {feedback.version.added} record(s) from corrected negative feedback")
    stdout.write(
        f"  dataset support-golden: {dataset.latest_version} versions, "
        f"{dataset_records_at_version(dataset=dataset).count()} records, tags baseline and prod"
    )


def _curator_edits(dataset, curator) -> None:
    """A record dropped for personal data, and a hand-written answer sharpened: two more versions."""
    first = dataset_records_at_version(dataset=dataset).exclude(record_id__startswith="manual:").first()
    if first is not None:
        dataset_records_delete(
            dataset=dataset,
            record_ids=[first.record_id],
            author=curator,
            message="Drop a conversation with personal data",
        )
    dataset_records_upsert(
        dataset=dataset,
        author=curator,
        message="Sharpen the refund answer",
        records=[
            {
                **HAND_WRITTEN[0],
                "expected": "Within 30 days of delivery, for a full refund to the original payment method.",
            }
        ],
    )
