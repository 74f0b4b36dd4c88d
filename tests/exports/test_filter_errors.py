"""An invalid range filter is reported under the parameter the user wrote (`start_time_after`), for
every range filter of every export source, in the service, the API and the span/trace list API."""

from __future__ import annotations

import pytest

from apps.core.exceptions import ApplicationError
from apps.exports.services import export_job_create
from apps.exports.sources import _filterset_class

pytestmark = pytest.mark.django_db


def _range_parameters(source: str) -> list[str]:
    filterset = _filterset_class(source)
    form = filterset(data={}, queryset=filterset._meta.model.objects.none()).form
    return [
        f"{name}_{suffix}"
        for name, field in form.fields.items()
        for suffix in getattr(field.widget, "suffixes", None) or ()
        if suffix
    ]


@pytest.mark.parametrize("source", ["spans", "traces", "scores"])
def test_every_range_filter_error_names_the_parameter(project, source):
    parameters = _range_parameters(source)
    assert {"start_time_after", "start_time_before"} <= set(parameters)
    for parameter in parameters:
        with pytest.raises(ApplicationError) as caught:
            export_job_create(
                project=project, source=source, format="jsonl", filters={parameter: "yesterday"}, dispatch=False
            )
        assert list(caught.value.fields) == [f"filters.{parameter}"], (parameter, caught.value.fields)


def test_both_ends_wrong_name_both_and_a_good_end_is_not_blamed(project):
    with pytest.raises(ApplicationError) as caught:
        export_job_create(
            project=project,
            source="spans",
            format="jsonl",
            dispatch=False,
            filters={"start_time_after": "2026-01-01T00:00:00Z", "start_time_before": "soon"},
        )
    assert list(caught.value.fields) == ["filters.start_time_before"]
    with pytest.raises(ApplicationError) as caught:
        export_job_create(
            project=project,
            source="traces",
            format="jsonl",
            dispatch=False,
            filters={"end_time_after": "x", "end_time_before": "y"},
        )
    assert set(caught.value.fields) == {"filters.end_time_after", "filters.end_time_before"}


def test_the_span_list_api_names_the_parameter_too(project, key_client):
    client = key_client(project, scopes=("read",))
    response = client.get("/api/v1/spans/", {"start_time_before": "tomorrow"})
    assert response.status_code == 400
    assert "start_time_before" in response.json()["fields"], response.json()
    response = client.get("/api/v1/traces/", {"end_time_after": "2026-13-01"})
    assert response.status_code == 400 and "end_time_after" in response.json()["fields"], response.json()
