import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from apps.projects.models import Project, Role
from apps.projects.services import membership_set


class Command(BaseCommand):
    help = "Create the development admin user if missing (password printed once) and make it admin of every project."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password", default="")

    def handle(self, *args, username, password, **options):
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = password or secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email="", password=password)
            self.stdout.write(f"Admin login: {username} / {password}")
        elif password:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Admin login: {username} / {password}")
        else:
            self.stdout.write(f"Admin user {username!r} exists (password unchanged; --password sets a new one).")
        for project in Project.objects.all():
            membership_set(project=project, user=user, role=Role.ADMIN)
