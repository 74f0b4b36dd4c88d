from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project, Role
from apps.projects.services import member_add


class Command(BaseCommand):
    help = (
        "Add a person to a project in one step (the account is made when missing, with admin access): "
        "role, queues to assign; prints a new account's one-time set-password link on the last line."
    )

    def add_arguments(self, parser):
        parser.add_argument("project_slug")
        parser.add_argument("username", help="A user name, or an email address (an account is found or made by it).")
        parser.add_argument("--role", default=Role.REVIEWER, choices=Role.values)
        parser.add_argument(
            "--queue",
            action="append",
            default=[],
            metavar="NAME",
            help="A review queue of the project to assign them to (repeatable).",
        )
        parser.add_argument("--email", default="", help="The email address of a new account.")

    def handle(self, *args, project_slug, username, role, queue, email, **options):
        project = Project.objects.filter(slug=project_slug).first()
        if project is None:
            raise CommandError(f"No project {project_slug!r}.")
        try:
            added = member_add(
                actor=None, project=project, username_or_email=username, role=role, queues=queue, email=email
            )
        except ApplicationError as exc:
            details = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in exc.fields.items())
            raise CommandError(f"{exc.message} {details}".strip())
        user = added.user
        what = "Created" if added.user_created else "Found"
        self.stdout.write(f"{what} {user.get_username()}; {added.membership.role} in {project.slug}.")
        if added.staff_granted:
            self.stdout.write("Gave the account access to the admin.")
        if added.queues:
            self.stdout.write(f"Assigned to: {', '.join(q.name for q in added.queues)}.")
        if added.password_link:
            if added.mail_problem is None:
                self.stdout.write(f"Mailed the set-password link to {user.email}.")
            self.stdout.write("One-time set-password link:")
            self.stdout.write(added.password_link)
