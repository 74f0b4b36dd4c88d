from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.projects.services import project_create


class Command(BaseCommand):
    help = "Create a project."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="")

    def handle(self, *args, slug, name, **options):
        try:
            project = project_create(slug=slug, name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        self.stdout.write(f"Created project {project.slug} ({project.name}).")
