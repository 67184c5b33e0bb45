"""Form fields of the run form: several uploaded files in one field, and a model's advanced
controls as the catalog describes them."""

from django import forms

from playground import numbers

from .selectors import ParameterSpec


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data, initial=None) -> list:
        uploads = data if isinstance(data, list | tuple) else [data] if data else []
        clean_one = super().clean
        return [clean_one(upload, initial) for upload in uploads]


def spec_field(spec: ParameterSpec) -> forms.Field:
    options = {"label": spec.label, "required": False, "help_text": spec.description}
    shown = {"true": "on", "false": "off"}.get(spec.default, spec.default)
    default = f"Default ({shown})" if shown else "Default"
    if spec.type == "boolean":
        return forms.TypedChoiceField(
            choices=[("", default), ("true", "On"), ("false", "Off")],
            coerce=lambda value: value == "true",
            empty_value=None,
            **options,
        )
    if spec.choices:
        return forms.ChoiceField(
            choices=[("", default), *((choice, choice) for choice in spec.choices)], **options
        )
    if spec.type == "integer":
        return numbers.IntegerField(min_value=spec.minimum, max_value=spec.maximum, **options)
    if spec.type == "number":
        return numbers.FloatField(min_value=spec.minimum, max_value=spec.maximum, **options)
    return forms.CharField(max_length=500, **options)
