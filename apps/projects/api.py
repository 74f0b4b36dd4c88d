"""`/api/v1/members/`: a project's members, for its admins (list, add, change role, remove).

A session user sees and changes the members of the projects where they are admin, nothing else (another
project's membership answers 404, exactly like a missing one); a user who is admin nowhere gets 403. A
key needs the `admin` scope (`write` never reaches people) and acts in its own project only.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from apps.audit.services import audit_actor
from apps.core.exceptions import ApplicationError
from apps.projects.api_scope import request_project
from apps.queues.models import ReviewQueue

from .models import Membership, ProjectAPIKey, Role
from .permissions import projects_where
from .services import member_add, member_remove, member_role_set

MANAGE_ACTION = "member.manage"


class MemberSerializer(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.CharField(source="user.email", read_only=True)
    is_active = serializers.BooleanField(source="user.is_active", read_only=True)
    queues = serializers.SerializerMethodField(help_text="Names of the project's review queues assigned to them.")

    class Meta:
        model = Membership
        fields = ["id", "project", "username", "email", "is_active", "role", "queues", "created_at", "updated_at"]
        read_only_fields = fields

    def get_queues(self, obj) -> list[str]:
        return sorted(q.name for q in obj.user.assigned_review_queues.all() if q.project_id == obj.project_id)


class MemberAddedSerializer(MemberSerializer):
    user_created = serializers.BooleanField(help_text="A new account was made.")
    password_link = serializers.CharField(
        allow_null=True, help_text="A new account's one-time set-password link (shown only in this answer)."
    )
    mailed = serializers.BooleanField(help_text="The link was mailed to the account's address.")

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "user_created", "password_link", "mailed"]
        read_only_fields = fields


class MemberAddSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, help_text="Project slug (session users in several projects).")
    username_or_email = serializers.CharField(
        max_length=254, help_text="An existing account's user name or email, or a new one's."
    )
    email = serializers.EmailField(required=False, allow_blank=True, help_text="A new user name's email address.")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.REVIEWER)
    queues = serializers.ListField(
        child=serializers.CharField(max_length=200),
        required=False,
        default=list,
        max_length=200,
        help_text="Names of the project's review queues to assign.",
    )


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberFilter(filters.FilterSet):
    project = filters.CharFilter(field_name="project__slug", help_text="Project slug.")
    role = filters.ChoiceFilter(choices=Role.choices)
    username = filters.CharFilter(field_name="user__username")

    class Meta:
        model = Membership
        fields = ["project", "role", "username"]


def _queues_prefetch() -> Prefetch:
    return Prefetch("user__assigned_review_queues", queryset=ReviewQueue.objects.only("id", "name", "project_id"))


class MemberViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Members of the projects the caller administers, newest first."""

    serializer_class = MemberSerializer
    filterset_class = MemberFilter
    required_scope = {"*": "admin"}
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "delete"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Membership.objects.none()
        request = self.request
        base = Membership.objects.select_related("project", "user").prefetch_related(_queues_prefetch())
        if isinstance(request.auth, ProjectAPIKey):
            return base.filter(project_id=request.auth.project_id)
        projects = projects_where(request.user, MANAGE_ACTION)
        if not projects.exists():
            raise ApplicationError("Managing members needs the admin role in a project.", status=403)
        return base.filter(project__in=projects)

    def _respond(self, membership: Membership, code=status.HTTP_200_OK, **extra) -> Response:
        fresh = self.get_queryset().get(pk=membership.pk)
        data = {**MemberSerializer(fresh).data, **extra}
        return Response(data, status=code)

    @extend_schema(request=MemberAddSerializer, responses={201: MemberAddedSerializer, 200: MemberAddedSerializer})
    def create(self, request, *args, **kwargs):
        body = MemberAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        project = request_project(request, slug=data.get("project"), action=MANAGE_ACTION)
        added = member_add(
            actor=audit_actor(request),
            project=project,
            username_or_email=data["username_or_email"],
            role=data["role"],
            queues=data["queues"],
            email=data.get("email") or "",
            base_url=f"{request.scheme}://{request.get_host()}",
        )
        code = status.HTTP_201_CREATED if added.previous_role is None else status.HTTP_200_OK
        return self._respond(
            added.membership,
            code,
            user_created=added.user_created,
            password_link=added.password_link or None,
            mailed=bool(added.password_link) and added.mail_problem is None,
        )

    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    def partial_update(self, request, *args, **kwargs):
        membership = self.get_object()
        body = MemberRoleSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        membership = member_role_set(
            actor=audit_actor(request), membership=membership, role=body.validated_data["role"]
        )
        return self._respond(membership)

    def destroy(self, request, *args, **kwargs):
        member_remove(actor=audit_actor(request), membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
