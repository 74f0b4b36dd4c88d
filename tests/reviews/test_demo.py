from io import StringIO

import pytest

from apps.core import registry
from apps.reviews.demo import demo_load
from apps.reviews.models import Score, ScoreConfig
from apps.reviews.selectors import spans_with_negative_feedback
from apps.traces.demo import load_demo_traces

pytestmark = pytest.mark.django_db


def test_demo_adds_configs_of_every_kind_and_annotations_from_every_source(project):
    assert (20, demo_load) in registry.demo_loaders
    load_demo_traces(project=project, traces=60, stdout=StringIO())
    out = StringIO()
    demo_load(project=project, traces=60, stdout=out)
    kinds = set(ScoreConfig.objects.filter(project=project).values_list("kind", flat=True))
    assert kinds == {"continuous", "categorical", "boolean", "text"}
    sources = set(Score.objects.filter(project=project).values_list("source", flat=True))
    assert sources == {"human", "end_user", "api", "automated"}
    # Negative end-user thumbs with corrections feed the dataset "from feedback" flow.
    assert spans_with_negative_feedback(project).exists()
    assert "score configs" in out.getvalue()
