"""Project scoping shared by every API view: which projects a request acts on, and the permission policy
(`apps.projects.permissions`) for its key or user. Who may call a view at all is api_permissions.py."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from apps.core.exceptions import ApplicationError
from apps.projects import permissions as policy
from apps.projects.models import Project, ProjectAPIKey
from apps.projects.selectors import projects_for_user

PROJECT_HELP = "Project slug (session users with several projects)."


def project_slug_field() -> serializers.SlugField:
    """A write body's `project`: the project a session user writes to (a key writes to its own)."""
    return serializers.SlugField(required=False, help_text=PROJECT_HELP)


def request_actor(request):
    """Who acts: the request's project API key, else its user."""
    return request.auth if isinstance(request.auth, ProjectAPIKey) else request.user


def request_can(request, action: str, project) -> bool:
    """The permission policy (apps.projects.permissions) for the request's key or user."""
    return policy.can(request_actor(request), action, project)


def request_require(request, action: str, project) -> None:
    """`request_can` or a 403 naming the role needed."""
    policy.require(request_actor(request), action, project)


def request_projects(request) -> QuerySet[Project]:
    """The projects a request may act on: the key's project, or the user's memberships."""
    if isinstance(request.auth, ProjectAPIKey):
        return Project.objects.filter(pk=request.auth.project_id)
    return projects_for_user(request.user)


def request_project(request, *, slug: str | None = None, action: str = "project.view") -> Project:
    """The one project a write acts on.

    With a key it is the key's project. A session user names it with `project` (slug) in the body
    or query string, or has exactly one project with the role needed.
    """
    if isinstance(request.auth, ProjectAPIKey):
        return request.auth.project  # the view already checked the key's scope
    if slug is None:
        data = getattr(request, "data", None)
        slug = (data.get("project") if isinstance(data, dict) else None) or request.query_params.get("project")
    candidates = projects_for_user(request.user)
    if slug:
        project = candidates.filter(slug=slug).first()
        if project is None:
            raise ApplicationError("Project not found.", fields={"project": ["Unknown project."]}, status=404)
    else:
        found = list(candidates[:2])
        if len(found) != 1:
            raise ApplicationError("Name the project.", fields={"project": ["This field is required."]})
        project = found[0]
    request_require(request, action, project)
    return project


class ProjectScopedViewMixin:
    """Filters `base_queryset()` to the request's projects through `project_field`."""

    project_field = "project"
    write_action = "annotation.write"

    def scoped(self, queryset: QuerySet) -> QuerySet:
        return queryset.filter(**{f"{self.project_field}__in": request_projects(self.request)})

    def write_project(self, slug: str | None = None) -> Project:
        return request_project(self.request, slug=slug, action=self.write_action)


class ProjectScopedReadViewSet(
    ProjectScopedViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """List and retrieve the request's projects' objects. Writes are the subclass's own methods: they
    validate the body (`validated`), check `write_action` (`write_project`, `writable`), call a service
    and `answer` with the object."""

    def validated(self, serializer_class, *, partial: bool = False) -> dict:
        """The request body as `serializer_class` validates it (a 400 naming the fields otherwise)."""
        data = serializer_class(data=self.request.data, partial=partial)
        data.is_valid(raise_exception=True)
        return dict(data.validated_data)

    def writable(self):
        """The object of the URL, when the request may do `write_action` in its project (403 otherwise)."""
        obj = self.get_object()
        request_require(self.request, self.write_action, obj.project)
        return obj

    def answer(self, obj, code: int = status.HTTP_200_OK) -> Response:
        """`obj` as `serializer_class` shows it."""
        return Response(self.serializer_class(obj).data, status=code)
