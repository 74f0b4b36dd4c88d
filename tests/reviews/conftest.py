import pytest

from tests import factories


@pytest.fixture
def span(project):
    trace = factories.TraceFactory(project=project)
    return factories.SpanFactory(trace=trace)
