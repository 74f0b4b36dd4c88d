import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.exceptions import ApplicationError
from apps.reviews import panels, selectors
from apps.reviews.models import Comment, Correction, Score, ScoreEvent, TagEvent
from apps.reviews.services.annotation_metadata import annotation_metadata_set
from apps.reviews.services.annotations import annotations_submit
from apps.reviews.services.corrections import correction_record
from apps.reviews.services.score_configs import (
    score_config_archive,
    score_config_create,
    score_config_delete,
    score_config_restore,
    score_config_update,
)
from apps.reviews.services.scores import score_record
from apps.reviews.services.tags import tag_add, tag_remove
from apps.traces.models import SpanTag, Tag
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def span(project):
    trace = factories.TraceFactory(project=project)
    return factories.SpanFactory(trace=trace)


def fields_of(exc_info) -> dict:
    return exc_info.value.fields


# ------------------------------------------------------------------ config validation


@pytest.mark.parametrize(
    "data, field",
    [
        ({"name": "", "kind": "boolean"}, "name"),
        ({"name": "x", "kind": "stars"}, "kind"),
        ({"name": "x", "kind": "continuous", "min_value": 1, "max_value": 1}, "max_value"),
        ({"name": "x", "kind": "continuous", "min_value": "low"}, "min_value"),
        ({"name": "x", "kind": "categorical", "options": []}, "options"),
        (
            {"name": "x", "kind": "categorical", "options": [{"label": "a", "value": 1}, {"label": "a", "value": 0}]},
            "options.1.label",
        ),
        ({"name": "x", "kind": "categorical", "options": [{"label": "a", "value": "high"}]}, "options.0.value"),
        ({"name": "x", "kind": "text", "max_length": 0}, "max_length"),
    ],
)
def test_config_create_rejects_bad_settings_naming_the_field(project, data, field):
    with pytest.raises(ApplicationError) as exc:
        score_config_create(project=project, **data)
    assert field in fields_of(exc)


def test_config_names_are_unique_per_project(project, other_project):
    score_config_create(project=project, name="helpful", kind="boolean")
    score_config_create(project=other_project, name="helpful", kind="boolean")
    with pytest.raises(ApplicationError) as exc:
        score_config_create(project=project, name="helpful", kind="text")
    assert "name" in fields_of(exc)


def test_config_with_scores_keeps_its_kind_labels_and_range(project, span, member):
    user = member(project)
    cat = factories.ScoreConfigFactory(project=project, categorical=True)
    score_record(span=span, config=cat, label="partially", author=user)
    with pytest.raises(ApplicationError) as exc:
        score_config_update(config=cat, kind="boolean")
    assert "kind" in fields_of(exc)
    with pytest.raises(ApplicationError) as exc:
        score_config_update(config=cat, options=[{"label": "correct", "value": 1}])
    assert "partially" in fields_of(exc)["options"][0]
    # Changing an option's value re-values the scores that picked it.
    score_config_update(
        config=cat,
        options=[
            {"label": "correct", "value": 1},
            {"label": "partially", "value": 0.25},
            {"label": "incorrect", "value": 0},
        ],
    )
    assert Score.objects.get(config=cat).value == 0.25
    cont = factories.ScoreConfigFactory(project=project, min_value=0, max_value=10)
    score_record(span=span, config=cont, value=8, author=user)
    with pytest.raises(ApplicationError) as exc:
        score_config_update(config=cont, max_value=5)
    assert "min_value" in fields_of(exc)


def test_config_with_scores_cannot_be_deleted_only_archived(project, span):
    config = factories.ScoreConfigFactory(project=project, boolean=True)
    score_record(span=span, config=config, value=True, source="api")
    with pytest.raises(ApplicationError, match="archive"):
        score_config_delete(config=config)
    score_config_archive(config=config)
    with pytest.raises(ApplicationError) as exc:
        score_record(span=span, config=config, value=False, source="api")
    assert "archived" in fields_of(exc)[f"scores.{config.name}"][0]
    assert Score.objects.filter(config=config).count() == 1  # kept
    score_config_restore(config=config)
    score_record(span=span, config=config, value=False, source="api")
    assert Score.objects.filter(config=config).count() == 2
    empty = factories.ScoreConfigFactory(project=project)
    score_config_delete(config=empty)
    assert not type(empty).objects.filter(pk=empty.pk).exists()


# ------------------------------------------------------------------ score validation per kind


@pytest.mark.parametrize(
    "value, ok, stored",
    [
        (0, True, 0.0),
        (75, True, 75.0),
        (100, True, 100.0),
        (100.5, False, None),
        (-1, False, None),
        ("50", False, None),
        (True, False, None),
        (float("nan"), False, None),
    ],
)
def test_continuous_scores_within_range(project, span, value, ok, stored):
    config = factories.ScoreConfigFactory(project=project, min_value=0, max_value=100)
    if ok:
        assert score_record(span=span, config=config, value=value, source="api").value == stored
    else:
        with pytest.raises(ApplicationError) as exc:
            score_record(span=span, config=config, value=value, source="api")
        assert f"scores.{config.name}" in fields_of(exc)


@pytest.mark.parametrize(
    "value, ok, stored",
    [
        (True, True, 1.0),
        (False, True, 0.0),
        (1, True, 1.0),
        (0, True, 0.0),
        (0.5, False, None),
        ("yes", False, None),
    ],
)
def test_boolean_scores(project, span, value, ok, stored):
    config = factories.ScoreConfigFactory(project=project, boolean=True)
    if ok:
        assert score_record(span=span, config=config, value=value, source="api").value == stored
    else:
        with pytest.raises(ApplicationError):
            score_record(span=span, config=config, value=value, source="api")


def test_categorical_scores_by_label_with_option_value(project, span):
    config = factories.ScoreConfigFactory(project=project, categorical=True)
    score = score_record(span=span, config=config, label="partially", source="api")
    assert (score.label, score.value) == ("partially", 0.5)
    with pytest.raises(ApplicationError, match="Unknown option 'wrong'"):
        score_record(span=span, config=config, label="wrong", source="api")
    with pytest.raises(ApplicationError, match="one option"):
        score_record(span=span, config=config, labels=["correct", "incorrect"], source="api")


def test_multi_select_scores_store_labels_and_mean(project, span):
    config = factories.ScoreConfigFactory(project=project, multi=True)
    score = score_record(span=span, config=config, labels=["tone", "too long"], source="api")
    assert score.labels == ["tone", "too long"] and score.value == 0.75
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, labels=["tone", "tone"], source="api")
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, labels=[], source="api")


def test_text_scores_respect_max_length(project, span):
    config = factories.ScoreConfigFactory(project=project, text=True)  # max 50
    assert score_record(span=span, config=config, text="fine", source="api").text == "fine"
    with pytest.raises(ApplicationError, match="At most 50"):
        score_record(span=span, config=config, text="x" * 51, source="api")
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, value=3, source="api")


def test_config_of_another_project_is_refused(project, other_project, span):
    config = factories.ScoreConfigFactory(project=other_project)
    with pytest.raises(ApplicationError) as exc:
        score_record(span=span, config=config, value=0.5, source="api")
    assert exc.value.status == 404


# ------------------------------------------------------------------ human scores: update, not duplicate


def test_human_scoring_again_updates_with_history(project, span, member):
    alice, bob = member(project), member(project)
    config = factories.ScoreConfigFactory(project=project)
    first = score_record(span=span, config=config, value=0.2, author=alice)
    second = score_record(span=span, config=config, value=0.9, author=alice, comment="better")
    assert first.pk == second.pk
    score_record(span=span, config=config, value=0.4, author=bob)
    score_record(span=span, config=config, value=1.0, source="api")
    score_record(span=span, config=config, value=0.0, source="end_user")
    score_record(span=span, config=config, value=0.0, source="end_user")
    assert Score.objects.filter(span=span, source="human").count() == 2
    assert Score.objects.filter(span=span).count() == 5
    history = list(ScoreEvent.objects.filter(score=first).values_list("action", "value", "comment"))
    assert history == [("create", 0.2, ""), ("update", 0.9, "better")]
    with pytest.raises(ApplicationError):
        score_record(span=span, config=config, value=0.5)  # human without author


def test_score_summary_per_config_with_authors_and_mean(project, span, member):
    alice, bob = member(project, username="alice"), member(project, username="bob")
    config = factories.ScoreConfigFactory(project=project, name="helpfulness", min_value=0, max_value=10)
    score_record(span=span, config=config, value=4, author=alice)
    score_record(span=span, config=config, value=8, author=bob)
    (entry,) = selectors.score_summary(span)
    assert entry["name"] == "helpfulness" and entry["count"] == 2
    assert entry["mean"] == 6 and entry["mean_percent"] == 60
    assert entry["authors"] == ["alice", "bob"]


# ------------------------------------------------------------------ tags, comments, corrections, metadata


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


def test_expected_output_diff_is_unified_and_compares_message_text():
    diff = panels.expected_output_diff({"role": "assistant", "content": "30 days."}, "Within 30 days.")
    lines = [(d["kind"], d["line"]) for d in diff]
    assert ("del", "-30 days.") in lines and ("add", "+Within 30 days.") in lines
    assert panels.expected_output_diff("same", None) == []


def test_reviewer_metadata_merges_and_never_touches_ingested_metadata(project, span):
    span.metadata = {"model": "gpt-x"}
    span.save()
    annotation_metadata_set(span=span, values={"difficulty": "hard", "model": "reviewer-note"})
    annotation_metadata_set(span=span, values={"difficulty": None, "topic": "refunds"})
    span.refresh_from_db()
    assert span.metadata == {"model": "gpt-x"}
    assert span.annotation_metadata == {"model": "reviewer-note", "topic": "refunds"}
    with pytest.raises(ApplicationError) as exc:
        annotation_metadata_set(span=span, values=["not", "a", "dict"])
    assert "metadata" in fields_of(exc)


# ------------------------------------------------------------------ whole-panel submit is atomic


def test_annotations_submit_writes_everything_or_nothing(project, span, member):
    user = member(project)
    helpful = factories.ScoreConfigFactory(project=project, name="helpful")
    correct = factories.ScoreConfigFactory(project=project, name="correct", categorical=True)
    with pytest.raises(ApplicationError) as exc:
        annotations_submit(
            span=span,
            user=user,
            scores={"helpful": 0.5, "correct": "nope"},
            comment="ok",
            tags=["a"],
            expected="x",
            metadata={"k": "v"},
        )
    assert set(fields_of(exc)) == {"scores.correct"}
    assert not Score.objects.exists() and not Comment.objects.exists() and not Correction.objects.exists()
    assert not SpanTag.objects.exists()
    span.refresh_from_db()
    assert span.annotation_metadata == {} and span.expected is None

    result = annotations_submit(
        span=span,
        user=user,
        scores={"helpful": 0.5, "correct": "correct"},
        comment="ok",
        tags=["a"],
        expected="x",
        metadata={"k": "v"},
    )
    assert {s["config"] for s in result["scores"]} == {"helpful", "correct"}
    # A null clears the reviewer's own score (recorded in the history).
    annotations_submit(span=span, user=user, scores={"helpful": None})
    assert not Score.objects.filter(config=helpful).exists()
    assert ScoreEvent.objects.filter(config=helpful).last().action == "delete"
    assert Score.objects.get(config=correct).value == 1.0


def test_span_annotations_bulk_is_one_query_per_kind(project, member):
    user = member(project)
    config = factories.ScoreConfigFactory(project=project)
    spans = [factories.SpanFactory(trace=factories.TraceFactory(project=project)) for _ in range(5)]
    for span in spans:
        annotations_submit(
            span=span, user=user, scores={config.name: 0.5}, comment="c", tags=["t"], expected="e", metadata={"k": 1}
        )
        tag_remove(span=span, name="t", user=user)
    with CaptureQueriesContext(connection) as queries:
        data = selectors.span_annotations_bulk([s.pk for s in spans])
    assert len(queries) == 6
    one = data[spans[0].pk]
    assert one["scores"][0]["config"] == config.name and one["scores"][0]["author"] == user.username
    assert [e["action"] for e in one["tag_history"]] == ["add", "remove"] and one["tags"] == []
    assert one["comments"][0]["text"] == "c" and one["corrections"][0]["value"] == "e"
    assert one["metadata"] == {"k": 1} and one["expected"] == "e"


def test_spans_with_negative_feedback_need_a_correction(project):
    thumbs = factories.ScoreConfigFactory(project=project, name="thumbs", boolean=True)
    stars = factories.ScoreConfigFactory(project=project, name="stars", min_value=1, max_value=5)
    verdict = factories.ScoreConfigFactory(project=project, name="verdict", categorical=True)
    spans = [factories.SpanFactory(trace=factories.TraceFactory(project=project)) for _ in range(6)]
    score_record(span=spans[0], config=thumbs, value=False, source="end_user")
    score_record(span=spans[1], config=thumbs, value=True, source="end_user")
    score_record(span=spans[2], config=stars, value=2, source="end_user")  # below midpoint 3
    score_record(span=spans[3], config=verdict, label="incorrect", source="end_user")
    score_record(span=spans[4], config=thumbs, value=False, source="api")  # not an end user
    score_record(span=spans[5], config=verdict, label="partially", source="end_user")
    for span in spans:
        correction_record(span=span, value="fixed")
    uncorrected = factories.SpanFactory(trace=factories.TraceFactory(project=project))
    score_record(span=uncorrected, config=thumbs, value=False, source="end_user")
    found = set(selectors.spans_with_negative_feedback(project).values_list("pk", flat=True))
    assert found == {spans[0].pk, spans[2].pk, spans[3].pk}
