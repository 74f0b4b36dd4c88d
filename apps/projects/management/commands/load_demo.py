from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core import registry
from apps.projects.models import Project
from apps.projects.services import project_create


class Command(BaseCommand):
    help = "Create (or refill) the demo project with realistic traces and every app's demo objects."

    def add_arguments(self, parser):
        parser.add_argument("--slug", default="demo")
        parser.add_argument("--traces", type=int, default=240)

    def handle(self, *args, slug, traces, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is not None:
            self.stdout.write(f"Demo project {slug!r} exists; leaving it as it is.")
            return
        with transaction.atomic():
            project = project_create(slug=slug, name="Demo: support assistant")
            for _order, loader in registry.demo_loaders:
                loader(project=project, traces=traces, stdout=self.stdout)
        self.stdout.write(f"Loaded demo project {project.slug}.")
