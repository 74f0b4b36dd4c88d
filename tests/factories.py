"""factory_boy factories, one section per app in dependency order; each section keeps to its app's models."""

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.datasets.models import Dataset
from apps.projects.models import Project
from apps.queues.models import ReviewQueue
from apps.reviews.models import ScoreConfig
from apps.traces.models import Span, Trace
from apps.views.models import TraceView

# ---------------------------------------------------------------- projects


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    is_staff = True
    password = factory.django.Password("pw")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"project-{n}")
    name = factory.LazyAttribute(lambda p: p.slug.title())


# ---------------------------------------------------------------- traces


class TraceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Trace

    project = factory.SubFactory(ProjectFactory)
    trace_id = factory.Sequence(lambda n: f"trace-{n:06d}")
    name = "chat"
    start_time = factory.LazyFunction(timezone.now)
    span_count = 1


class SpanFactory(factory.django.DjangoModelFactory):
    """A span; prefer the ingest service in tests of ingest itself, this is for everything downstream."""

    class Meta:
        model = Span

    trace = factory.SubFactory(TraceFactory)
    project = factory.LazyAttribute(lambda s: s.trace.project)
    span_id = factory.Sequence(lambda n: f"span-{n:06d}")
    name = "llm-call"
    type = "llm"
    start_time = factory.LazyFunction(timezone.now)
    input = factory.LazyFunction(lambda: [{"role": "user", "content": "What is the refund window?"}])
    output = factory.LazyFunction(lambda: {"role": "assistant", "content": "30 days."})
    metadata = factory.LazyFunction(dict)
    metrics = factory.LazyFunction(dict)


# ---------------------------------------------------------------- reviews


class ScoreConfigFactory(factory.django.DjangoModelFactory):
    """A continuous 0–1 config by default; traits: categorical, multi, boolean, text."""

    class Meta:
        model = ScoreConfig

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"score-{n}")
    kind = "continuous"
    min_value = 0.0
    max_value = 1.0

    class Params:
        categorical = factory.Trait(
            kind="categorical",
            options=[
                {"label": "correct", "value": 1},
                {"label": "partially", "value": 0.5},
                {"label": "incorrect", "value": 0},
            ],
        )
        multi = factory.Trait(
            kind="categorical",
            multi_select=True,
            options=[
                {"label": "hallucination", "value": 0},
                {"label": "tone", "value": 0.5},
                {"label": "too long", "value": 1},
            ],
        )
        boolean = factory.Trait(kind="boolean")
        text = factory.Trait(kind="text", max_length=50)


# ---------------------------------------------------------------- review queues


class ReviewQueueFactory(factory.django.DjangoModelFactory):
    """A queue without items; fill it with `apps.queues.services.filling.review_items_add`."""

    class Meta:
        model = ReviewQueue

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"queue-{n}")
    instructions = "Check the answer against the **refund policy**."


# ---------------------------------------------------------------- datasets


class DatasetFactory(factory.django.DjangoModelFactory):
    """An empty dataset; add records with `apps.datasets.services.records.dataset_records_upsert`."""

    class Meta:
        model = Dataset

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"dataset-{n}")
    description = "Refund questions"


# ---------------------------------------------------------------- trace views


class TraceViewFactory(factory.django.DjangoModelFactory):
    """A view with one conversation component; pass `spec=` for others (not validated here)."""

    class Meta:
        model = TraceView

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"view-{n}")
    spec = factory.LazyFunction(
        lambda: {"version": 1, "components": [{"type": "conversation", "path": ["$.input", "$.output"]}]}
    )
