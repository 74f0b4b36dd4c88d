from django.core.management.base import BaseCommand, CommandError

from apps.core.exceptions import ApplicationError
from apps.projects.models import Project
from apps.projects.services import api_key_create


class Command(BaseCommand):
    help = "Create a project API key. The key is printed alone on the last line; it is not stored in clear."

    def add_arguments(self, parser):
        parser.add_argument("project_slug")
        parser.add_argument("--scopes", default="ingest,read,write")
        parser.add_argument("--name", default="")

    def handle(self, *args, project_slug, scopes, name, **options):
        project = Project.objects.filter(slug=project_slug).first()
        if project is None:
            raise CommandError(f"No project {project_slug!r}.")
        try:
            api_key, key = api_key_create(project=project, scopes=scopes.split(","), name=name)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} {exc.fields}")
        self.stdout.write(f"API key {api_key.prefix} for {project.slug} with scopes {', '.join(api_key.scopes)}:")
        self.stdout.write(key)
