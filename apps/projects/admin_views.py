"""Bodies of the project admin's custom screens (wired in ProjectAdmin.get_urls).

"Add member": one form for a person (user name or email), a role and the project's queues. The project
is loaded through the admin's queryset (another project's answers like a missing one, 404) and the
form needs `member.manage` in it; the result page shows a new account's set-password link once.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse

from apps.core.exceptions import ApplicationError
from apps.projects.admin_scope import admin_can

from .models import Role
from .services import member_add

MANAGE_ACTION = "member.manage"


class MemberAddForm(forms.Form):
    username_or_email = forms.CharField(
        label="User name or email",
        max_length=254,
        help_text="An existing account (by user name or email address), or a new one: an email address "
        "makes an account with that address; a new user name makes an account with that name.",
    )
    email = forms.EmailField(
        required=False,
        label="Email (new user name only)",
        help_text="Where the set-password link is mailed, when email is configured.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.REVIEWER)
    queues = forms.ModelMultipleChoiceField(
        queryset=None,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Review queues of this project to assign them to.",
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        from apps.queues.models import ReviewQueue

        self.fields["queues"].queryset = ReviewQueue.objects.filter(project=project).order_by("name")


def _project_or_404(model_admin, request, pk):
    project = model_admin.get_queryset(request).filter(pk=pk).first()
    if project is None:
        raise Http404("Project not found.")
    return project


def member_add_view(model_admin, request, pk):
    project = _project_or_404(model_admin, request, pk)
    if not admin_can(request, MANAGE_ACTION, project):
        raise PermissionDenied
    form = MemberAddForm(request.POST or None, project=project)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "original": project,
        "project": project,
        "title": f"Add a member to {project.name}",
        "form": form,
    }
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            added = member_add(
                actor=request.user,
                project=project,
                username_or_email=data["username_or_email"],
                role=data["role"],
                queues=list(data["queues"]),
                email=data["email"] or "",
                base_url=f"{request.scheme}://{request.get_host()}",
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
            for name, messages in exc.fields.items():
                form.add_error(name if name in form.fields else None, messages)
        else:
            context.update({"title": f"Member added to {project.name}", "added": added})
            response = TemplateResponse(request, "admin/projects/project/member_added.html", context)
            response["Cache-Control"] = "no-store"  # the set-password link is shown once
            return response
    return TemplateResponse(request, "admin/projects/project/member_add.html", context)
