import pytest

from apps.views.gallery import GALLERY
from apps.views.schema import spec_errors


def test_gallery_templates_are_valid():
    for template in GALLERY:
        assert spec_errors(template["spec"]) == {}, template["key"]


@pytest.mark.parametrize(
    ("spec", "where", "fragment"),
    [
        ({"components": [{"type": "markdown"}]}, "components[0].path", "required"),
        (
            {"components": [{"type": "json"}, {"type": "fields", "fields": [{"label": "a", "path": 3}]}]},
            "components[1].fields[0].path",
            "not of type 'string'",
        ),
        ({"components": [{"type": "chart", "path": "$"}]}, "components[0].type", "Choose one of"),
        ({"components": [{"type": "image", "path": "$.x", "onerror": "x"}]}, "components[0].onerror", "Unknown field"),
        ({"components": [{"type": "json", "span": {"type": "robot"}}]}, "components[0].span.type", "Choose one of"),
        (
            {"components": [{"type": "aggregate", "spans": {}, "display": "sum", "path": "$.a"}]},
            "components[0].spans",
            "name",
        ),
        ({"components": [{"type": "json", "path": "$..[["}]}, "components[0].path", "Not a valid JSONPath"),
        (
            {
                "components": [
                    {"type": "carousel", "path": "$.docs", "components": [{"type": "markdown", "path": "$["}]}
                ]
            },
            "components[0].components[0].path",
            "Not a valid JSONPath",
        ),
        (
            {
                "components": [
                    {
                        "type": "aggregate",
                        "spans": {"type": "tool"},
                        "display": "list",
                        "path": "$.x",
                        "group_by": "$.name",
                    }
                ]
            },
            "components[0].group_by",
            "count or sum",
        ),
        (
            {"components": [{"type": "aggregate", "spans": {"type": "tool"}, "display": "sum"}]},
            "components[0].path",
            "needs a path",
        ),
        ({"components": [{"type": "score_controls", "configs": []}]}, "components[0].configs", "non-empty"),
        ({"components": []}, "components", "should be non-empty"),
        ({"components": [{"type": "json"}], "extra": 1}, "extra", "Unknown field"),
        ([], "spec", "not of type 'object'"),
    ],
)
def test_errors_point_at_component_and_field(spec, where, fragment):
    errors = spec_errors(spec)
    assert where in errors, errors
    assert any(fragment in message for message in errors[where]), errors[where]


def test_valid_spec_with_every_component_has_no_errors():
    spec = {
        "version": 1,
        "components": [
            {"type": "conversation", "path": ["$.input", "$.output"], "title": "Chat"},
            {"type": "fields", "fields": [{"label": "Model", "path": "$.model"}]},
            {"type": "markdown", "path": "$.output.content", "span": {"name": "chat", "index": 0}},
            {"type": "json", "path": "$.metadata", "open_depth": 2},
            {
                "type": "carousel",
                "path": "$.output.documents",
                "item_title": "$.title",
                "components": [{"type": "markdown", "path": "$.content"}],
            },
            {"type": "diff"},
            {"type": "image", "path": "$.input.image_url", "alt": "upload"},
            {
                "type": "aggregate",
                "spans": {"type": "llm"},
                "display": "sum",
                "path": "$.metrics.total_tokens",
                "group_by": "$.model",
            },
            {"type": "score_controls", "configs": ["correctness"]},
        ],
    }
    assert spec_errors(spec) == {}
