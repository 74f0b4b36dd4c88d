"""Admin forms: span → record mapping, record editing, import, generation, version tags."""

from __future__ import annotations

import json

from django import forms

from apps.core.exceptions import ApplicationError
from apps.core.parsing import json_text_parse, value_clean

from .models import Dataset
from .services.spans import EXPECTED_SOURCES

EXPECTED_SOURCE_LABELS = {
    "auto": "The gold Expected if the span was adjudicated, else its correction, else its output",
    "gold": "The gold Expected (empty when the span has none)",
    "output": "The span's output",
    "correction": "The span's correction (empty when none)",
    "none": "Nothing",
}


class SpanMappingForm(forms.Form):
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.none(), required=False, help_text="Leave empty to create a new dataset below."
    )
    new_dataset_name = forms.CharField(max_length=200, required=False, label="…or a new dataset named")
    input_path = forms.CharField(
        required=False,
        max_length=500,
        label="Input JSONPath",
        help_text="Empty: the whole span input. E.g. $[-1].content or $.messages[0].content",
    )
    expected_source = forms.ChoiceField(
        choices=[(s, EXPECTED_SOURCE_LABELS[s]) for s in EXPECTED_SOURCES], initial="auto", label="Expected output from"
    )
    expected_path = forms.CharField(
        required=False,
        max_length=500,
        label="Output JSONPath",
        help_text="Applied to the output when expected comes from it. E.g. $.content",
    )
    metadata_keys = forms.CharField(
        required=False,
        max_length=2000,
        label="Span metadata keys to keep",
        help_text="Comma-separated; * keeps all. The span and trace ids are always kept.",
    )
    carry_annotations = forms.BooleanField(
        required=False, initial=True, label="Carry annotations (scores, tags, comments) into record metadata"
    )
    tags = forms.CharField(required=False, max_length=1000, help_text="Record tags, comma-separated.")
    splits = forms.CharField(required=False, max_length=1000, help_text="Splits, comma-separated (e.g. test).")
    message = forms.CharField(required=False, max_length=500, label="Version message")

    def __init__(self, *args, datasets=None, **kwargs):
        super().__init__(*args, **kwargs)
        if datasets is not None:
            self.fields["dataset"].queryset = datasets

    def clean(self):
        data = super().clean()
        if not data.get("dataset") and not (data.get("new_dataset_name") or "").strip():
            raise forms.ValidationError("Choose a dataset or name a new one.")
        return data

    def mapping(self) -> dict:
        data = self.cleaned_data
        split = lambda text: [v.strip() for v in (text or "").split(",") if v.strip()]  # noqa: E731
        return {
            "input_path": data.get("input_path") or "",
            "expected_source": data["expected_source"],
            "expected_path": data.get("expected_path") or "",
            "metadata_keys": split(data.get("metadata_keys")),
            "carry_annotations": bool(data.get("carry_annotations")),
            "tags": split(data.get("tags")),
            "splits": split(data.get("splits")),
        }


class _RawText(str):
    pass


class JSONTextField(forms.CharField):
    """A textarea holding JSON; a value that is not JSON is kept as a plain string when `allow_text`."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 80, "class": "vLargeTextField ds-json"})

    def __init__(self, *args, allow_text: bool = True, expect_object: bool = False, **kwargs):
        self.allow_text = allow_text
        self.expect_object = expect_object
        kwargs.setdefault("required", False)
        super().__init__(*args, strip=False, **kwargs)

    def bound_data(self, data, initial):
        return _RawText(data) if data is not None else data  # re-display what was typed, untouched

    def prepare_value(self, value):
        if value is None:
            return ""
        if isinstance(value, _RawText):
            return str(value)
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                return value  # plain text shows as typed
            return json.dumps(value, ensure_ascii=False)  # text that looks like JSON stays a string
        return json.dumps(value, ensure_ascii=False, indent=2)

    def to_python(self, value):
        text = super().to_python(value)
        if text is None or not text.strip():
            return {} if self.expect_object else None
        field = self.label or "value"
        try:
            try:
                parsed = json_text_parse(text, field=field)
            except ApplicationError as exc:
                if self.allow_text and not self.expect_object and exc.message == "Malformed JSON.":
                    return value_clean(text, field=field)  # plain text, under the same text rules
                raise
        except ApplicationError as exc:
            raise forms.ValidationError([m for ms in exc.fields.values() for m in ms] or [exc.message]) from None
        if self.expect_object and not isinstance(parsed, dict):
            raise forms.ValidationError('Enter a JSON object, e.g. {"key": "value"}.')
        return parsed


class RecordForm(forms.Form):
    record_id = forms.CharField(
        max_length=255, required=False, help_text="Leave empty for a new record to get a generated id."
    )
    input = JSONTextField(required=True, help_text="JSON, or plain text.")
    expected = JSONTextField(help_text="JSON, or plain text; empty for none.")
    metadata = JSONTextField(allow_text=False, expect_object=True)
    tags = forms.CharField(required=False, max_length=2000, help_text="Comma-separated.")
    splits = forms.CharField(required=False, max_length=2000, help_text="Comma-separated.")
    message = forms.CharField(required=False, max_length=500, label="Version message")

    def record(self) -> dict:
        data = self.cleaned_data
        split = lambda text: [v.strip() for v in (text or "").split(",") if v.strip()]  # noqa: E731
        return {
            "record_id": data.get("record_id") or None,
            "input": data["input"],
            "expected": data["expected"],
            "metadata": data["metadata"] or {},
            "tags": split(data["tags"]),
            "splits": split(data["splits"]),
        }


IMPORT_FORMATS = [
    ("auto", "From the file name"),
    ("csv", "CSV"),
    ("json", "JSON"),
    ("jsonl", "JSON Lines"),
    ("xlsx", "Excel (XLSX)"),
]


class ImportForm(forms.Form):
    file = forms.FileField()
    format = forms.ChoiceField(choices=IMPORT_FORMATS, initial="auto")
    columns = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        label="Column mapping",
        help_text="One per line: column=target, target one of record_id, input, expected, metadata, tags, splits, "
        "input.<key>, expected.<key>, metadata.<key>, or ignore. Columns named like a target "
        "(input, expected, input.question, metadata.source…) map themselves; other columns go to "
        "metadata.<column>.",
    )
    tags = forms.CharField(required=False, max_length=1000, help_text="Tags added to every imported record.")
    splits = forms.CharField(required=False, max_length=1000, help_text="Splits added to every imported record.")
    message = forms.CharField(required=False, max_length=500, label="Version message")
    dry_run = forms.BooleanField(required=False, label="Only validate (write nothing)")

    def column_mapping(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for line in (self.cleaned_data.get("columns") or "").splitlines():
            if not line.strip():
                continue
            column, sep, target = line.partition("=")
            if not sep:
                raise forms.ValidationError(f"Write column=target, got {line.strip()!r}.")
            out[column.strip()] = target.strip()
        return out


class GenerateForm(forms.Form):
    count = forms.IntegerField(min_value=1, max_value=50, initial=10, label="Number of records")
    instructions = forms.CharField(
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What the new examples should cover (edge cases, languages, tone…).",
    )
    sample_size = forms.IntegerField(min_value=0, max_value=20, initial=5, label="Existing records to show as examples")


class VersionTagForm(forms.Form):
    name = forms.CharField(max_length=64, help_text="e.g. prod, baseline")
    version = forms.IntegerField(min_value=1)
