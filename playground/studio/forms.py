from django import forms

from playground.catalog.models import ImageModel, Mode


class PlaygroundForm(forms.Form):
    """A text-to-image run: model, prompt and one of the model's preset sizes."""

    model = forms.ChoiceField(label="Model")
    prompt = forms.CharField(
        label="Prompt",
        max_length=8000,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "A lighthouse on a cliff at dawn, watercolour"}
        ),
    )
    size = forms.ChoiceField(label="Size")

    def __init__(self, *args, models: list[ImageModel], **kwargs):
        super().__init__(*args, **kwargs)
        self.models = {m.slug: m for m in models if m.has_mode(Mode.GENERATE)}
        self.fields["model"].choices = [(slug, m.name) for slug, m in self.models.items()]
        first = next(iter(self.models.values()), None)
        presets = first.sizes["tiers"][first.sizes["default_resolution"]] if first else {}
        self.fields["size"].choices = [
            (pixels, f"{ratio} · {pixels.replace('x', ' × ')}") for ratio, pixels in presets.items()
        ]
