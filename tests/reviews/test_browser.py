"""The annotation panel's JavaScript in headless Chromium: every control, one save, the result on the page."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from apps.projects.models import Role
from apps.projects.services import membership_set
from apps.reviews.models import Comment, Correction, Score
from apps.reviews.services.tags import tag_add
from tests import factories
from tests.browser import login_through_form as login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_reviewer_annotates_with_every_control_and_saves_once(browser, live_server):
    project = factories.ProjectFactory(slug="web")
    user = get_user_model().objects.create_user("rev", password="pw", is_staff=True)
    membership_set(project=project, user=user, role=Role.REVIEWER)
    trace = factories.TraceFactory(project=project, trace_id="t-web", root_span_id="s-web")
    span = factories.SpanFactory(
        trace=trace, span_id="s-web", parent_span_id="", output={"role": "assistant", "content": "14 days"}
    )
    factories.ScoreConfigFactory(project=project, name="helpfulness", order=1, min_value=0, max_value=10)
    factories.ScoreConfigFactory(project=project, name="correctness", order=2, categorical=True)
    factories.ScoreConfigFactory(project=project, name="thumbs", order=3, boolean=True)
    factories.ScoreConfigFactory(project=project, name="issues", order=4, multi=True)
    factories.ScoreConfigFactory(project=project, name="notes", order=5, text=True)
    tag_add(span=span, name="old-tag")

    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, live_server, "rev")
    page.goto(f"{live_server.url}{reverse('admin:traces_span_change', args=[span.pk])}")
    panel = page.locator("[data-assay-annotations]")

    slider = panel.locator('[data-score-config="helpfulness"] input[type=range]')
    slider.fill("7.5")
    assert panel.locator('[data-score-config="helpfulness"] [data-percent]').text_content() == "75%"
    panel.locator('[data-score-config="correctness"] [data-option="partially"]').click()
    assert (
        panel.locator('[data-score-config="correctness"] [data-option="partially"]').get_attribute("aria-pressed")
        == "true"
    )
    panel.locator('[data-score-config="thumbs"] [data-option="false"]').click()
    # Keyboard API used by review queues: score 4 (issues), options 1 and 2.
    page.evaluate("""() => { const root = document.querySelector('[data-assay-annotations]');
        AssayAnnotationPanel.pickOption(root, 4, 1); AssayAnnotationPanel.pickOption(root, 4, 2); }""")
    panel.locator('[data-score-config="notes"] textarea').fill("Wrong refund window")
    panel.locator("[data-tag-input]").fill("refund-policy")
    panel.locator("[data-tag-input]").press("Enter")
    panel.locator('[data-tag="old-tag"] [data-action="remove-tag"]').click()
    panel.locator("[data-comment]").fill("Policy says 30 days.")
    panel.locator("[data-expected-mode]").select_option("text")
    panel.locator("[data-expected]").fill("Refunds within 30 days.")
    panel.locator('[data-action="add-meta"]').click()
    panel.locator("[data-meta-row] [data-meta-key]").last.fill("difficulty")
    panel.locator("[data-meta-row] [data-meta-value]").last.fill("easy")
    panel.locator('[data-action="save"]').click()

    page.wait_for_selector("[data-status]:has-text('Saved.')")
    assert errors == []
    scores = {s.config.name: s for s in Score.objects.filter(span=span, author=user).select_related("config")}
    assert scores["helpfulness"].value == 7.5
    assert scores["correctness"].label == "partially" and scores["thumbs"].value == 0.0
    assert scores["issues"].labels == ["hallucination", "tone"] and scores["notes"].text == "Wrong refund window"
    span.refresh_from_db()
    # A chat output corrected in Text mode keeps the message's shape, with the reviewer's text.
    assert span.tags == ["refund-policy"]
    assert span.expected == {"role": "assistant", "content": "Refunds within 30 days."}
    assert span.annotation_metadata == {"difficulty": "easy"}
    assert Comment.objects.get(span=span).text == "Policy says 30 days."
    assert Correction.objects.filter(span=span).count() == 1
    # The refreshed panel shows what was saved, by whom, and the diff.
    text = page.locator("[data-assay-annotations]").inner_text()
    assert "Policy says 30 days." in text and "rev" in text
    assert "+Refunds within 30 days." in page.locator("[data-diff]").inner_text()

    # A bad value is reported next to its field, and nothing is written.
    page.locator("[data-assay-annotations] [data-expected-mode]").select_option("json")
    page.locator("[data-assay-annotations] [data-expected]").fill("{not json")
    page.locator("[data-assay-annotations] [data-action=save]").click()
    assert "Not valid JSON" in page.locator('[data-error-for="expected"]').inner_text()
    assert Correction.objects.filter(span=span).count() == 1
