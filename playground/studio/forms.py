"""The playground's HTML forms: one run with its model's own controls, a comparison of models on
one prompt, and the history filters. What the first two share is in studio/prompt_form.py."""

import secrets
from collections.abc import Sequence

from django import forms
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.urls import reverse

from playground import numbers
from playground.catalog.cache import catalog_memo
from playground.catalog.models import ImageModel, Mode, ordered_tiers
from playground.gateway import images
from playground.gateway.errors import GatewayError
from playground.gateway.models import Generation, GenerationImage
from playground.gateway.schemas import (
    MAX_SEED,
    OUTPUT_FORMATS,
    GenerationRequest,
    check_image_count,
    check_upload,
)

from .fields import MultipleFileField, MultipleFileInput, spec_field
from .prompt_form import PromptForm, option_label, price_inputs_of
from .selectors import RECENT_INPUTS, ModelOption, image_list_for

CUSTOM = "custom"
MAX_IMAGES_PER_RUN = 4
COMPARE_MODELS = (2, 4)
PICK_MODELS = "Pick {} to {} models to compare.".format(*COMPARE_MODELS)
# Each process keeps a model's default controls rendered, per version of the catalog.
DEFAULT_CONTROLS_CACHE_SECONDS = 60


class RunForm(PromptForm):
    """One run of one model in one mode, with that model's own controls."""

    price_fields = ("model", "aspect_ratio", "resolution", "width", "height", "n")

    model = forms.ChoiceField(label="Model")
    n = forms.TypedChoiceField(
        label="Images",
        coerce=int,
        choices=[(count, str(count)) for count in range(1, MAX_IMAGES_PER_RUN + 1)],
        initial=1,
        widget=forms.RadioSelect,
    )
    output_format = forms.ChoiceField(
        label="Format", choices=[(name, name.upper()) for name in OUTPUT_FORMATS], initial="png"
    )
    output_compression = numbers.IntegerField(
        label="Quality",
        required=False,
        min_value=0,
        max_value=100,
        help_text="JPEG, WebP and AVIF only: 100 is the best; empty means 90.",
    )
    images = MultipleFileField(
        label="Upload images",
        required=False,
        help_text="PNG, JPEG or WebP. Drop them here or choose files.",
        widget=MultipleFileInput(attrs={"accept": ",".join(images.INPUT_CONTENT_TYPES)}),
    )
    mask = forms.FileField(
        label="Mask",
        required=False,
        help_text="Painted on the first image: its transparent pixels mark where to edit.",
        widget=forms.FileInput(attrs={"accept": "image/png", "hidden": True}),
    )
    picks = forms.ModelMultipleChoiceField(
        label="Or pick earlier results",
        required=False,
        queryset=GenerationImage.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    inputs_of = forms.ModelChoiceField(
        label="Input images of the run you reuse",
        required=False,
        queryset=Generation.objects.none(),
        widget=forms.HiddenInput,
    )

    def __init__(self, *args, options: Sequence[ModelOption], option: ModelOption, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.setup = {"options": options, "option": option, "user": user}
        self.option = option
        # Nothing chosen but the model: its controls look the same for everyone.
        self.shows_defaults = not self.is_bound and self.initial.keys() <= {"model"}
        model = option.model
        self.fields["model"].widget.attrs.update(
            {
                "hx-get": reverse("studio:controls"),
                "hx-target": "#controls",
                "hx-swap": "outerHTML",
                "hx-include": "closest form",
                "hx-params": "not images,mask,csrfmiddlewaretoken",
            }
        )
        self.fields["model"].choices = [
            (Mode(mode).label, [(o.value, option_label(o)) for o in options if o.mode == mode])
            for mode in Mode.values
            if any(o.mode == mode for o in options)
        ]
        self.set_sizes([model], extra_ratios=[(CUSTOM, "Custom")])
        for name in ("width", "height"):
            self.fields[name] = numbers.IntegerField(
                label=name.capitalize(),
                required=False,
                min_value=model.sizes["min_side"],
                max_value=model.sizes["max_side"],
            )
        self.specs = option.parameter_specs
        for spec in self.specs:
            self.fields[spec.name] = spec_field(spec)
        if option.is_edit:
            self.fields["prompt"].widget.attrs["placeholder"] = "Replace the sky with a warm sunset"
            self.fields["images"].widget.attrs["data-max-bytes"] = settings.MAX_UPLOAD_BYTES
        if option.is_edit and user.is_authenticated:
            self.fields["picks"].queryset = image_list_for(user=user)
            self.fields["inputs_of"].queryset = Generation.objects.filter(
                user=user, mode=Mode.EDIT, deleted_at__isnull=True
            )
        elif not option.is_edit:
            for name in ("images", "mask", "picks", "inputs_of"):
                del self.fields[name]

    # What the template shows

    @property
    def spec_groups(self) -> list[tuple[str, str, list]]:
        """The advanced fields as (title, provider name, bound fields): the generation controls
        first, then each provider's own flags."""
        groups: dict[str, list] = {}
        for spec in self.specs:
            groups.setdefault(spec.provider, []).append(self[spec.name])
        return [
            (f"{provider} flags" if provider else "Generation controls", provider, fields)
            for provider, fields in groups.items()
        ]

    @property
    def defaults_cache_seconds(self) -> int:
        """How long the model's default controls may be reused (playground.html); a form with
        values of its own is rendered every time."""
        return DEFAULT_CONTROLS_CACHE_SECONDS if self.shows_defaults else 0

    @property
    def advanced_open(self) -> bool:
        names = ["output_compression", *(spec.name for spec in self.specs)]
        return any(name in self.errors for name in names)

    @property
    def pick_candidates(self) -> list[GenerationImage]:
        """Recent results to pick as inputs, and any picked one that is older."""
        if "picks" not in self.fields:
            return []
        queryset = self.fields["picks"].queryset
        chosen = self.chosen_picks
        recent = list(queryset[:RECENT_INPUTS])
        shown = {image.pk for image in recent}
        older = [i for i in queryset.filter(pk__in=chosen) if i.pk not in shown] if chosen else []
        return older + recent

    @property
    def chosen_picks(self) -> set[int]:
        value = self["picks"].value() if "picks" in self.fields else None
        values = value if isinstance(value, list | tuple) else [value] if value else []
        picks = set()
        for item in values:
            try:
                picks.add(numbers.parse_int(str(item)))
            except ValueError:  # not an image id: nothing to keep
                continue
        return picks

    @property
    def reused_inputs(self) -> tuple[str, list[str]] | None:
        """The generation id and input image names offered by "reuse these settings"."""
        value = self["inputs_of"].value() if "inputs_of" in self.fields else None
        try:
            generation = self.fields["inputs_of"].queryset.filter(pk=value).first()
        except ValidationError:  # not a generation id
            generation = None
        names = _input_names(generation)
        return (str(generation.pk), names) if names else None

    # Validation

    def clean_images(self) -> list:
        uploads = self.cleaned_data["images"]
        try:
            for upload in uploads:
                check_upload(name=upload.name, size=upload.size, content_type=upload.content_type)
        except GatewayError as exc:
            raise forms.ValidationError(exc.message) from exc
        return uploads

    def clean_mask(self):
        """The declared size here; the pixels are checked against the first image when the
        inputs are stored, as for the API (`services._store_inputs`)."""
        upload = self.cleaned_data["mask"]
        if upload:
            try:
                check_upload(name=upload.name, size=upload.size, param="mask")
            except GatewayError as exc:
                raise forms.ValidationError(exc.message) from exc
        return upload

    def clean(self):
        data = super().clean()
        if data.get("aspect_ratio") == CUSTOM:
            for name in ("width", "height"):
                if data.get(name) is None and name not in self.errors:
                    self.add_error(name, "Enter the width and height of the custom size.")
        if self.option.is_edit and not self.errors.keys() & {"images", "picks", "inputs_of"}:
            count = (
                len(data.get("images") or ())
                + len(data.get("picks") or ())
                + len(_input_names(data.get("inputs_of")))
            )
            if not count:
                self.add_error(
                    "images", "Add an image to edit: upload one or pick an earlier result."
                )
            else:
                try:
                    check_image_count(count)
                except GatewayError as exc:
                    self.add_error("images", exc.message)
        return data

    # The request

    def generation_request(
        self, *, images: tuple[bytes, ...] = (), mask: bytes | None = None
    ) -> GenerationRequest:
        data = self.cleaned_data
        # A masked edit comes back at the first image's pixels, so it is made in that image's
        # shape (no size asked), not stretched into it from the shape chosen.
        sized = mask is None
        custom = data.get("aspect_ratio") == CUSTOM
        return GenerationRequest(
            mode=self.option.mode,
            model=self.option.model.slug,
            prompt=data.get("prompt", ""),
            negative_prompt=data.get("negative_prompt", ""),
            n=data.get("n") or 1,
            size=f"{data.get('width')}x{data.get('height')}" if sized and custom else None,
            aspect_ratio=data.get("aspect_ratio") if sized and not custom else None,
            resolution=data.get("resolution") if sized and not custom else None,
            seed=data.get("seed"),
            output_format=data.get("output_format") or "png",
            output_compression=data.get("output_compression"),
            images=images,
            mask=mask,
            extra={
                spec.name: data[spec.name]
                for spec in self.specs
                if data.get(spec.name) not in (None, "")
            },
        )

    def price_inputs(self) -> tuple[str, tuple[GenerationRequest, ...]]:
        if not self.shows_defaults:
            return price_inputs_of(self)
        # The same for everyone: worked out once per option and version of the catalog
        # instead of validating a second form each time (F21).
        option, options = self.option, self.setup["options"]
        return catalog_memo(
            option.version,
            (RunForm.price_inputs, option.value),
            lambda: price_inputs_of(
                RunForm(
                    initial={"model": option.value},
                    options=options,
                    option=option,
                    user=AnonymousUser(),
                )
            ),
        )

    def price_requests(self) -> list[GenerationRequest]:
        return [self.generation_request()]

    def input_images(self) -> tuple[bytes, ...]:
        """The edit's input images in order: the reused run's inputs, picks, then uploads."""
        data = self.cleaned_data
        names = [
            *_input_names(data.get("inputs_of")),
            *(image.file.name for image in data.get("picks") or ()),
        ]
        return (
            *(images.read(name) for name in names),
            *(upload.read() for upload in data.get("images") or ()),
        )

    def input_mask(self) -> bytes | None:
        """The mask painted on the first input image, if one was."""
        upload = self.cleaned_data.get("mask")
        return upload.read() if upload else None


def _input_names(generation: Generation | None) -> list[str]:
    return list((generation.params.get("inputs") or {}).get("images", ())) if generation else []


class CompareForm(PromptForm):
    """One prompt on two to four text-to-image models at once."""

    price_fields = ("models", "aspect_ratio", "resolution")

    models = forms.MultipleChoiceField(
        label="Models",
        widget=forms.CheckboxSelectMultiple,
        help_text="Two to four.",
        error_messages={"required": PICK_MODELS},
    )

    def __init__(self, *args, options: Sequence[ModelOption], **kwargs):
        super().__init__(*args, **kwargs)
        self.setup = {"options": options}
        self.options = {o.value: o for o in options if o.mode == Mode.GENERATE}
        self.fields["models"].choices = [(v, option_label(o)) for v, o in self.options.items()]
        self.set_sizes([option.model for option in self.options.values()])

    def clean_models(self) -> list[str]:
        chosen = self.cleaned_data["models"]
        low, high = COMPARE_MODELS
        if not low <= len(chosen) <= high:
            raise forms.ValidationError(PICK_MODELS)
        return chosen

    def price_requests(self) -> list[GenerationRequest]:
        return self.generation_requests()

    def generation_requests(self) -> list[GenerationRequest]:
        """One request per model, all with the same seed (a random one unless it is locked)."""
        data = self.cleaned_data
        seed = data.get("seed")
        if seed is None:
            seed = secrets.randbelow(MAX_SEED + 1)
        return [
            GenerationRequest(
                mode=Mode.GENERATE,
                model=self.options[value].model.slug,
                prompt=data.get("prompt", ""),
                negative_prompt=data.get("negative_prompt", ""),
                aspect_ratio=data["aspect_ratio"],
                resolution=data["resolution"],
                seed=seed,
            )
            for value in data["models"]
        ]


class HistoryFilterForm(forms.Form):
    model = forms.ChoiceField(label="Model", required=False)
    status = forms.ChoiceField(
        label="Status",
        required=False,
        choices=[("", "Any status"), *Generation.Status.choices],
    )

    def __init__(self, *args, models: list[ImageModel], **kwargs):
        super().__init__(*args, label_suffix="", **kwargs)
        self.fields["model"].choices = [("", "All models"), *((m.slug, m.name) for m in models)]


def initial_from_generation(generation: Generation) -> dict:
    """The form values that repeat `generation`: model, prompt, size, locked seed, flags."""
    params = generation.params
    sizes = generation.model.sizes
    pixels = f"{generation.width}x{generation.height}"
    preset = next(
        (
            (ratio, tier)
            for tier, table in ordered_tiers(sizes).items()
            for ratio, size in table.items()
            if size == pixels
        ),
        None,
    )
    initial = {
        "model": f"{generation.model.slug}:{generation.mode}",
        "prompt": generation.prompt,
        "negative_prompt": params.get("negative_prompt", ""),
        "n": min(generation.n, MAX_IMAGES_PER_RUN),
        "seed": generation.seed,
        "lock_seed": True,
        "output_format": params.get("output_format", "png"),
        "output_compression": params.get("output_compression"),
        "inputs_of": generation.pk if _input_names(generation) else None,
        **{
            name: str(value).lower() if isinstance(value, bool) else value
            for name, value in (params.get("extra") or {}).items()
        },
    }
    if preset:
        initial["aspect_ratio"], initial["resolution"] = preset
    else:
        initial |= {"aspect_ratio": CUSTOM, "width": generation.width, "height": generation.height}
    return initial


def initial_from_published(image: GenerationImage) -> dict:
    """The form values that make a published image again for anyone: its run's, with the
    image's own seed, one image, and none of the owner's input images."""
    initial = initial_from_generation(image.generation)
    return initial | {"n": 1, "seed": image.seed_used, "inputs_of": None}
