"""Review queues in the admin: the queue list and form, the review page, the board and analytics
(custom views through get_urls, bodies in admin_views.py), and "Add to review queue…" actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin

from apps.projects.admin_scope import ProjectScopedAdmin
from apps.projects.models import Membership
from apps.projects.permissions import projects_where

from . import admin_adjudication, admin_views, board_views, quality_admin_views
from .models import ReviewQueue, RuleTarget
from .services.queues import QUEUE_FIELDS, rule_filter_errors


class ReviewQueueForm(forms.ModelForm):
    class Meta:
        model = ReviewQueue
        fields = ["project", "score_configs", "assignees", *sorted(QUEUE_FIELDS)]  # laid out by the fieldsets

    def clean(self):
        data = super().clean()
        project = data.get("project")
        if project is None:
            return data
        for config in data.get("score_configs") or []:
            if config.project_id != project.pk:
                self.add_error("score_configs", f"{config} belongs to another project.")
        members = set(Membership.objects.filter(project=project).values_list("user_id", flat=True))
        for user in data.get("assignees") or []:
            if user.pk not in members and not user.is_superuser:
                self.add_error("assignees", f"{user} is not a member of {project}.")
        rule_filter = data.get("rule_filter")
        if data.get("rule_target") in RuleTarget.values and rule_filter is not None:
            if not isinstance(rule_filter, dict):
                self.add_error("rule_filter", "An object of filter parameters.")
            else:
                for key, msgs in rule_filter_errors(target=data["rule_target"], params=rule_filter).items():
                    self.add_error("rule_filter", f"{key}: {' '.join(msgs)}")
        return data


@admin.register(ReviewQueue)
class ReviewQueueAdmin(ProjectScopedAdmin):
    manage_action = "queue.manage"
    form = ReviewQueueForm
    list_display = ["name", "project", "progress_bar", "reviewers_per_item", "blind", "queue_links"]
    list_filter = ["project", "blind"]
    list_select_related = ["project"]
    search_fields = ["name"]
    filter_horizontal = ["score_configs", "assignees"]
    readonly_fields = ["counts"]
    fieldsets = [
        (None, {"fields": ["project", "name", "instructions", "score_configs", "assignees"]}),
        ("Reviewing", {"fields": ["reviewers_per_item", "blind", "reservation_minutes", "counts"]}),
        ("Gold", {"fields": ["disagreement_threshold", "gold_question_rate"]}),
        (
            "Rule: add matching traces as they are ingested",
            {
                "fields": ["rule_enabled", "rule_target", "rule_filter", "rule_sampling_rate"],
                "description": "The filter takes the parameters of GET /api/v1/traces/ (or /spans/), "
                'e.g. {"name": ["chat"], "has_error": false}.',
            },
        ),
    ]

    @admin.display(description="progress")
    def progress_bar(self, obj: ReviewQueue):
        total = obj.item_count
        done = round(100 * obj.complete_count / total) if total else 0
        return format_html(
            '<progress max="100" value="{}" aria-label="{} of {} complete"></progress> {} / {}',
            done,
            obj.complete_count,
            total,
            obj.complete_count,
            total,
        )

    @admin.display(description="")
    def queue_links(self, obj: ReviewQueue):
        return format_html(
            '<a class="button" href="{}">Review</a> <a href="{}">Board</a> <a href="{}">Analytics</a>'
            ' <a href="{}">Disagreements</a>',
            reverse("admin:queues_reviewqueue_review", args=[obj.pk]),
            reverse("admin:queues_reviewqueue_board", args=[obj.pk]),
            reverse("admin:queues_reviewqueue_analytics", args=[obj.pk]),
            reverse("admin:queues_reviewqueue_disagreements", args=[obj.pk]),
        )

    @admin.display(description="items")
    def counts(self, obj: ReviewQueue):
        return f"{obj.backlog_count} backlog · {obj.pending_count} pending · {obj.complete_count} complete"

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        projects = projects_where(request.user, self.manage_action)
        if db_field.name == "score_configs":
            from apps.reviews.models import ScoreConfig

            kwargs["queryset"] = ScoreConfig.objects.filter(project__in=projects, is_archived=False)
        elif db_field.name == "assignees":
            users = get_user_model().objects.filter(memberships__project__in=projects).distinct()
            kwargs["queryset"] = users.order_by("username")
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_urls(self):
        wrap = self.admin_site.admin_view
        # The board shows an item's review in a side panel (an iframe of this origin).
        framed = xframe_options_sameorigin
        return [
            path("<int:queue_id>/review/", framed(wrap(self.review_next_view)), name="queues_reviewqueue_review"),
            path(
                "<int:queue_id>/review/<int:item_id>/",
                framed(wrap(self.review_item_view)),
                name="queues_reviewqueue_review_item",
            ),
            path("<int:queue_id>/review/peek/", wrap(self.review_peek_view), name="queues_reviewqueue_review_peek"),
            path(
                "<int:queue_id>/review/<int:item_id>/data/",
                wrap(self.review_item_data_view),
                name="queues_reviewqueue_review_data",
            ),
            path(
                "<int:queue_id>/review/<int:item_id>/open/",
                wrap(self.review_open_view),
                name="queues_reviewqueue_review_open",
            ),
            path(
                "<int:queue_id>/review/<int:item_id>/submit/",
                wrap(self.review_submit_view),
                name="queues_reviewqueue_review_submit",
            ),
            path(
                "<int:queue_id>/review/<int:item_id>/skip/",
                wrap(self.review_skip_view),
                name="queues_reviewqueue_review_skip",
            ),
            path("<int:queue_id>/board/", wrap(self.board_view), name="queues_reviewqueue_board"),
            path("<int:queue_id>/board/column/", wrap(self.board_column_view), name="queues_reviewqueue_board_column"),
            path("<int:queue_id>/analytics/", wrap(self.analytics_view), name="queues_reviewqueue_analytics"),
            path("<int:queue_id>/analytics/reviewer/", wrap(self.reviewer_view), name="queues_reviewqueue_reviewer"),
            path(
                "<int:queue_id>/gold-questions/",
                wrap(self.gold_questions_view),
                name="queues_reviewqueue_gold_questions",
            ),
            path(
                "<int:queue_id>/disagreements/", wrap(self.disagreements_view), name="queues_reviewqueue_disagreements"
            ),
            path(
                "<int:queue_id>/disagreements/<int:item_id>/",
                wrap(self.adjudicate_view),
                name="queues_reviewqueue_adjudicate",
            ),
            *super().get_urls(),
        ]

    def review_next_view(self, request, queue_id):
        return admin_views.review_next_view(self, request, queue_id)

    def review_item_view(self, request, queue_id, item_id):
        return admin_views.review_item_view(self, request, queue_id, item_id)

    def review_peek_view(self, request, queue_id):
        return admin_views.review_peek_view(self, request, queue_id)

    def review_item_data_view(self, request, queue_id, item_id):
        return admin_views.review_item_data_view(self, request, queue_id, item_id)

    def review_open_view(self, request, queue_id, item_id):
        return admin_views.review_open_view(self, request, queue_id, item_id)

    def review_submit_view(self, request, queue_id, item_id):
        return admin_views.review_submit_view(self, request, queue_id, item_id)

    def review_skip_view(self, request, queue_id, item_id):
        return admin_views.review_skip_view(self, request, queue_id, item_id)

    def board_view(self, request, queue_id):
        return board_views.board_view(self, request, queue_id)

    def board_column_view(self, request, queue_id):
        return board_views.board_column_view(self, request, queue_id)

    def analytics_view(self, request, queue_id):
        return board_views.analytics_view(self, request, queue_id)

    def reviewer_view(self, request, queue_id):
        return quality_admin_views.reviewer_view(self, request, queue_id)

    def gold_questions_view(self, request, queue_id):
        return quality_admin_views.gold_questions_view(self, request, queue_id)

    def disagreements_view(self, request, queue_id):
        return admin_adjudication.disagreements_view(self, request, queue_id)

    def adjudicate_view(self, request, queue_id, item_id):
        return admin_adjudication.adjudicate_view(self, request, queue_id, item_id)
