"""Review queues in the admin: the queue list and form, the review page, the board and analytics
(custom views through get_urls, bodies in admin_views.py), and "Add to review queue…" actions."""

from __future__ import annotations

from functools import partial

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.clickjacking import xframe_options_sameorigin

from apps.projects.admin_scope import ProjectScopedAdmin
from apps.projects.models import Membership
from apps.projects.permissions import projects_where

from . import admin_adjudication, admin_views, board_views, quality_admin_views, services
from .models import ReviewQueue, RuleTarget


class ReviewQueueForm(forms.ModelForm):
    class Meta:
        model = ReviewQueue
        fields = [
            "project",
            "name",
            "instructions",
            "score_configs",
            "assignees",
            "reviewers_per_item",
            "blind",
            "reservation_minutes",
            "rule_enabled",
            "rule_target",
            "rule_filter",
            "rule_sampling_rate",
            "disagreement_threshold",
            "gold_question_rate",
        ]

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
                for key, msgs in services.rule_filter_errors(target=data["rule_target"], params=rule_filter).items():
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
        site = self.admin_site

        def view(fn, name_suffix, route, framed=False):
            body = site.admin_view(partial(fn, admin_site=site))
            # The board shows an item's review in a side panel (an iframe of this origin).
            return path(
                route, xframe_options_sameorigin(body) if framed else body, name=f"queues_reviewqueue_{name_suffix}"
            )

        return [
            view(admin_views.review_next_view, "review", "<int:queue_id>/review/", framed=True),
            view(admin_views.review_item_view, "review_item", "<int:queue_id>/review/<int:item_id>/", framed=True),
            view(admin_views.review_peek_view, "review_peek", "<int:queue_id>/review/peek/"),
            view(admin_views.review_item_data_view, "review_data", "<int:queue_id>/review/<int:item_id>/data/"),
            view(admin_views.review_open_view, "review_open", "<int:queue_id>/review/<int:item_id>/open/"),
            view(admin_views.review_submit_view, "review_submit", "<int:queue_id>/review/<int:item_id>/submit/"),
            view(admin_views.review_skip_view, "review_skip", "<int:queue_id>/review/<int:item_id>/skip/"),
            view(board_views.board_view, "board", "<int:queue_id>/board/"),
            view(board_views.board_column_view, "board_column", "<int:queue_id>/board/column/"),
            view(board_views.analytics_view, "analytics", "<int:queue_id>/analytics/"),
            view(quality_admin_views.reviewer_view, "reviewer", "<int:queue_id>/analytics/reviewer/"),
            view(quality_admin_views.gold_questions_view, "gold_questions", "<int:queue_id>/gold-questions/"),
            view(admin_adjudication.disagreements_view, "disagreements", "<int:queue_id>/disagreements/"),
            view(admin_adjudication.adjudicate_view, "adjudicate", "<int:queue_id>/disagreements/<int:item_id>/"),
            *super().get_urls(),
        ]
