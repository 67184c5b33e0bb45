"""What every form of the playground that runs a prompt has (`PromptForm`), and how it is
priced: the run form and the comparison (studio/forms.py) build on it."""

from django import forms
from django.forms.renderers import Jinja2
from django.utils.functional import lazy

from playground import numbers
from playground.accounts.money import format_usd_rounded
from playground.catalog.models import ImageModel, ordered_tiers
from playground.gateway.schemas import MAX_PROMPT_CHARS, MAX_SEED, GenerationRequest

from .selectors import ModelOption


def _option_label(option: ModelOption) -> str:
    price = (
        "unavailable" if option.price_micros is None else format_usd_rounded(option.price_micros)
    )
    return f"{option.model.name} · {price}"


# Pricing an option takes two queries: labels are computed only when a page shows them.
option_label = lazy(_option_label, str)


class PromptForm(forms.Form):
    """What every run has: a prompt, a negative prompt, a shape and scale, a seed."""

    # Some twenty fields, each a label, a widget, help text and errors in templates of their
    # own: Jinja2 renders them (Django's own templates for it) faster than Django's engine
    # (bench/README, F14). Forms elsewhere, the admin's among them, keep Django's templates.
    default_renderer = Jinja2()
    # Fields that change the price; the price preview ignores errors elsewhere.
    price_fields: tuple[str, ...] = ("aspect_ratio", "resolution")
    # The keyword arguments the form was built with, to build it again bound (`priced`).
    setup: dict

    prompt = forms.CharField(
        label="Prompt",
        max_length=MAX_PROMPT_CHARS,
        widget=forms.Textarea(
            attrs={"rows": 4, "placeholder": "A lighthouse on a cliff at dawn, watercolour"}
        ),
    )
    negative_prompt = forms.CharField(
        label="Negative prompt",
        required=False,
        max_length=MAX_PROMPT_CHARS,
        help_text="What to keep out of the picture, such as “blurry, watermark”.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    aspect_ratio = forms.ChoiceField(label="Aspect ratio", widget=forms.RadioSelect)
    resolution = forms.ChoiceField(label="Resolution", widget=forms.RadioSelect)
    seed = numbers.IntegerField(
        label="Seed",
        required=False,
        min_value=0,
        max_value=MAX_SEED,
        widget=forms.NumberInput(attrs={"placeholder": "random"}),
    )
    lock_seed = forms.BooleanField(
        label="Lock this seed",
        required=False,
        help_text="Locked, every run uses this seed; unlocked, each run picks a random one.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)

    def set_sizes(self, models: list[ImageModel], *, extra_ratios=()) -> None:
        """Aspect-ratio chips and resolution tiers from the models' size tables."""
        if not models:
            return
        tiers = [tier for model in models for tier in ordered_tiers(model.sizes).items()]
        ratios = [(ratio, ratio) for ratio in dict.fromkeys(r for _, t in tiers for r in t)]
        first = models[0].sizes
        self._set_choices("aspect_ratio", [*ratios, *extra_ratios], first["default_ratio"])
        resolutions = [(name, name) for name in dict.fromkeys(name for name, _ in tiers)]
        self._set_choices("resolution", resolutions, first["default_resolution"])

    def _set_choices(self, name: str, choices: list, default: str) -> None:
        self.fields[name].choices = choices
        if self.initial.get(name) not in dict(choices):
            self.initial[name] = default

    def clean(self):
        data = super().clean()
        if not data.get("lock_seed"):
            data["seed"] = None
        elif data.get("seed") is None and "seed" not in self.errors:
            self.add_error("seed", "Enter the seed to lock, or untick the lock for a random one.")
        return data

    def price_inputs(self) -> tuple[str, tuple[GenerationRequest, ...]]:
        """What the price preview needs: why the fields that set the price are not valid (or
        ""), else the requests to price."""
        return price_inputs_of(self)

    def priced(self) -> "PromptForm":
        """This form bound to the values it shows, so that an unbound form can be priced."""
        if self.is_bound:
            return self
        values = {name: self[name].value() for name in self.fields if name != "images"}
        return type(self)(data=values, **self.setup)

    def price_error(self) -> str:
        """Why the fields that set the price are not valid, or "" (validates the form)."""
        self.is_valid()
        errors = [self.errors[name][0] for name in self.price_fields if name in self.errors]
        return str(errors[0]) if errors else ""

    def price_requests(self) -> list[GenerationRequest]:
        raise NotImplementedError


def price_inputs_of(form: PromptForm) -> tuple[str, tuple[GenerationRequest, ...]]:
    priced = form.priced()
    error = priced.price_error()
    return error, () if error else tuple(priced.price_requests())
