"""django-import-export resource: score configs export from one project and import into another."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from import_export import fields, resources, widgets

from apps.audit.services import audit_diff, audit_record, audit_snapshot
from apps.core.exceptions import ApplicationError

from .models import ScoreConfig
from .services.score_configs import CONFIG_FIELDS, score_config_clean


class ScoreConfigResource(resources.ModelResource):
    options = fields.Field(attribute="options", column_name="options", widget=widgets.JSONWidget())

    def __init__(self, project=None, **kwargs):
        super().__init__(**kwargs)
        # The import's target project; rows match existing configs of that project by name.
        self.project = project

    class Meta:
        model = ScoreConfig
        fields = (*CONFIG_FIELDS, "is_archived")
        export_order = fields
        import_id_fields = ("name",)
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = False

    def get_queryset(self):
        qs = super().get_queryset()
        return qs.filter(project=self.project) if self.project is not None else qs.none()

    def before_import(self, dataset, **kwargs):
        if self.project is None:
            raise ValueError("Choose the project to import the score configs into.")

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        errors = dict(import_validation_errors or {})
        instance.project = self.project
        existing = ScoreConfig.objects.filter(pk=instance.pk).first() if instance.pk else None
        data = {name: getattr(instance, name) for name in CONFIG_FIELDS}
        if isinstance(data["max_length"], float):
            data["max_length"] = int(data["max_length"])
        try:
            clean = score_config_clean(project=self.project, data=data, instance=existing)
        except ApplicationError as exc:
            for field_name, messages in exc.fields.items():
                errors.setdefault(field_name.split(".")[0], []).extend(
                    f"{field_name}: {m}" if "." in field_name else m for m in messages
                )
        else:
            for name, value in clean.items():
                setattr(instance, name, value)
        if errors:
            raise ValidationError(errors)

    def before_save_instance(self, instance, row, **kwargs):
        existing = ScoreConfig.objects.filter(pk=instance.pk).first() if instance.pk else None
        instance._audit_before = audit_snapshot(existing)

    def after_save_instance(self, instance, row, **kwargs):
        # Imports save models directly, so record here; a dry run rolls this back with the rows.
        before, after = audit_diff(getattr(instance, "_audit_before", None), audit_snapshot(instance))
        audit_record(
            actor=kwargs.get("user"),
            action="score_config.update" if before else "score_config.create",
            obj=instance,
            before=before,
            after=after,
        )
