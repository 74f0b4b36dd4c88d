from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    name = "apps.experiments"
    label = "experiments"
    verbose_name = "Experiments"

    def ready(self):
        # The compare and alignment admin screens (a minimal Experiment admin until exp-core's carries them).
        from . import admin_compare  # noqa: F401
