"""The reference sections of a model's page, built from the catalog data and the provider adapters.

Nothing here is written per model: the parameter tables come from the model's `docs` data, the
size presets from its `sizes`, what each provider takes from its offering's capabilities (the
data `gateway/fit.py` fits requests to), and the normalization table from the adapters' parameter
tables (the ones `Provider.translate` applies), so the page says what the gateway does.
"""

from dataclasses import dataclass, replace
from typing import Any

from playground.gateway.fit import Asked, Unfit, offering_fit
from playground.providers.base import GATEWAY_PARAMETERS, Behaviour, Param
from playground.providers.registry import PROVIDER_CLASSES, configured_providers, demo_provider

from .capabilities import Capabilities, ParamSpec, accepted_ranges
from .models import ImageModel, Mode, ordered_tiers, parse_pixels
from .selectors import ModelEntry, PricedOffering

PARAMETER_GROUPS = {
    "core": "Core parameters",
    "size": "Size and shape",
    "media": "Input images",
    "output": "Output and delivery",
    "advanced": "Generation controls",
    "openai": "OpenAI's own parameters",
    "provider": "Provider flags",
}

BEHAVIOURS = {
    Behaviour.PASSTHROUGH: "Sent to the provider as it is.",
    Behaviour.RENAMED: "Same value, under the field name the provider expects.",
    Behaviour.CONVERTED: "Turned into the provider's own form (pixels into its size field).",
    Behaviour.EMULATED: "Done by the gateway itself; works even where the provider has no such "
    "option.",
    Behaviour.IGNORED: "Not sent: the provider has no such option, so it has no effect there.",
}


@dataclass(frozen=True, kw_only=True)
class ParameterRow:
    name: str
    type: str
    description: str
    modes: list[str]
    required: bool = False
    default: str = ""
    allowed: str = ""
    provider: str = ""
    only_on: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class ParameterGroup:
    key: str
    title: str
    rows: list[ParameterRow]


@dataclass(frozen=True, kw_only=True)
class Made:
    """What one offering makes of a size preset: `text` as the table shows it, and a `note`
    (what exact pixels give there, or that it is the offering's nearest size)."""

    text: str
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class SizePreset:
    ratio: str
    resolution: str
    width: int
    height: int
    made: tuple[Made, ...] = ()  # per offering, in the order of the model's offerings

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass(frozen=True, kw_only=True)
class TakenParam:
    """One parameter as an offering takes it; `is_taken` False: it has no effect there."""

    name: str
    is_taken: bool
    accepted: str = ""
    default: str = ""


@dataclass(frozen=True, kw_only=True)
class OfferingTakes:
    """What one offering takes: its sizes, input images and parameters, from its capabilities.
    `is_open`: it has no capabilities data and takes whatever the gateway sends."""

    item: PricedOffering
    is_open: bool
    sizes: list[tuple[str, str]]  # the provider's size value and the pixels it makes for it
    custom: str  # the exact-pixel range, or ""
    keeps_input_shape: bool
    images: str
    params: list[TakenParam]


@dataclass(frozen=True, kw_only=True)
class ProviderColumn:
    slug: str
    name: str
    is_installed: bool
    is_live: bool


@dataclass(frozen=True, kw_only=True)
class NormalizationRow:
    name: str
    cells: list[Param | None]


@dataclass(frozen=True, kw_only=True)
class NormalizationTable:
    columns: list[ProviderColumn]
    rows: list[NormalizationRow]


def parameter_rows(
    parameters: list[dict], *, modes: list[str], providers: dict[str, str]
) -> list[ParameterRow]:
    """Rows for the parameters that apply to one of `modes` and, for provider flags, to one of
    `providers` (slug -> name)."""
    rows = []
    for data in parameters:
        shared_modes = [mode for mode in data["modes"] if mode in modes]
        provider = data.get("provider", "")
        if not shared_modes or (provider and provider not in providers):
            continue
        rows.append(
            ParameterRow(
                name=data["name"],
                type=data["type"],
                description=data["description"],
                modes=[Mode(mode).label for mode in shared_modes],
                required=data.get("required", False),
                default=data.get("default", ""),
                allowed=_allowed(data),
                provider=providers.get(provider, ""),
            )
        )
    return rows


def parameter_groups(rows: list[ParameterRow], parameters: list[dict]) -> list[ParameterGroup]:
    group_of = {data["name"]: data["group"] for data in parameters}
    return [
        ParameterGroup(key=key, title=title, rows=members)
        for key, title in PARAMETER_GROUPS.items()
        if (members := [row for row in rows if group_of[row.name] == key])
    ]


def model_parameter_groups(entry: ModelEntry) -> list[ParameterGroup]:
    """The model's parameters; where its offerings give a range or choices for one, the allowed
    values are what they accept together (beyond them the API answers 400 for this model)."""
    parameters = [_offered(data, entry) for data in entry.model.docs.get("parameters", [])]
    rows = parameter_rows(parameters, modes=entry.model.modes, providers=entry.providers)
    return parameter_groups(rows, parameters)


def _offered(data: dict, entry: ModelEntry) -> dict:
    """`data` with the values the model's offerings accept for it, per mode of the parameter:
    the union of their ranges (as `fit.model_check` applies it) or of their choices."""
    allowed = {}
    for mode in data["modes"]:
        takes = [item.offering.takes for item in entry.offerings if mode in item.offering.modes]
        ranges = accepted_ranges(takes)
        choices = dict.fromkeys(
            choice
            for capabilities in takes
            if capabilities.params and data["name"] in capabilities.params
            for choice in capabilities.params[data["name"]].choices
        )
        if data["name"] in ranges:
            low, high = ranges[data["name"]]
            allowed[mode] = f"{low:g}–{high:g}"
        elif choices:
            allowed[mode] = ", ".join(map(_value, choices))
    if not allowed:
        return data
    if len(set(allowed.values())) == 1:
        return data | {"allowed": next(iter(allowed.values()))}
    return data | {
        "allowed": "; ".join(f"{Mode(mode).label}: {text}" for mode, text in allowed.items())
    }


def offerings_take(entry: ModelEntry) -> list[OfferingTakes]:
    """What each offering of the model takes, for its model page. The parameters listed are the
    model's documented ones that some offering of it takes, then any others an offering takes;
    an offering that does not take a documented one shows it as having no effect there
    (another provider's own flags are left out: they never reach it)."""
    documented = {data["name"]: data for data in entry.model.docs.get("parameters", [])}
    offered = dict.fromkeys(
        name
        for item in entry.offerings
        if item.offering.takes.params
        for name in item.offering.takes.params
    )
    names = [name for name in documented if name in offered]
    names += [name for name in offered if name not in documented]
    return [_offering_takes(item, names, documented) for item in entry.offerings]


def _offering_takes(item: PricedOffering, names: list[str], documented: dict) -> OfferingTakes:
    offering = item.offering
    takes: Capabilities = offering.takes
    is_open = not offering.capabilities
    params = []
    for name in [] if is_open else names:
        spec = takes.params.get(name)
        data = documented.get(name, {})
        if spec:
            accepted, default = _accepted(spec), _value(spec.default)
            params.append(TakenParam(name=name, is_taken=True, accepted=accepted, default=default))
        elif (
            data
            and set(data["modes"]) & set(offering.modes)
            and data.get("provider", offering.provider) == offering.provider
        ):
            params.append(TakenParam(name=name, is_taken=False))
    custom = takes.custom
    return OfferingTakes(
        item=item,
        is_open=is_open,
        sizes=[(name, f"{width}×{height}") for name, (width, height) in takes.sizes.items()],
        custom=f"{custom.low}–{custom.high} px a side"
        + (f", each a multiple of {custom.multiple}" if custom.multiple > 1 else "")
        if custom and not is_open
        else "",
        keeps_input_shape=takes.follows_input is not None and not is_open,
        images=_images(takes.max_images),
        params=params,
    )


def _accepted(spec: ParamSpec) -> str:
    if spec.choices:
        return ", ".join(map(_value, spec.choices))
    if spec.low is not None:
        return f"{spec.low:g}–{spec.high:g}"
    if isinstance(spec.default, bool):
        return "true, false"
    return "any value"


def _images(count: int) -> str:
    if count == 0:
        return "none (text to image only)"
    return "1" if count == 1 else f"up to {count}"


def _value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def api_parameter_groups(
    models: list[ImageModel], *, providers: dict[str, str]
) -> list[ParameterGroup]:
    """Every parameter of the catalog, as the first model that has it defines it; parameters only
    some models take say which."""
    parameters: dict[str, dict] = {}
    takers: dict[str, list[str]] = {}
    for model in models:
        for data in model.docs.get("parameters", []):
            parameters.setdefault(data["name"], data)
            takers.setdefault(data["name"], []).append(model.slug)
    definitions = list(parameters.values())
    rows = [
        replace(row, only_on=tuple(takers[row.name]) if len(takers[row.name]) < len(models) else ())
        for row in parameter_rows(definitions, modes=Mode.values, providers=providers)
    ]
    return parameter_groups(rows, definitions)


def size_presets(model: ImageModel, *, offerings: list[PricedOffering] = ()) -> list[SizePreset]:
    """The model's presets, each with what every one of `offerings` makes of it."""
    presets = []
    for resolution, ratios in ordered_tiers(model.sizes).items():
        for ratio, pixels in ratios.items():
            width, height = parse_pixels(pixels)
            made = tuple(
                _made(item.offering.takes, item.offering.modes, width, height) for item in offerings
            )
            preset = SizePreset(
                ratio=ratio, resolution=resolution, width=width, height=height, made=made
            )
            presets.append(preset)
    return presets


def _made(takes: Capabilities, modes: list[str], width: int, height: int) -> Made:
    """What an offering makes of a preset asked by its shape (`aspect_ratio`), and, when that
    differs, of the same preset asked as exact pixels (`size`), as `fit.offering_fit` decides."""
    images = 0 if Mode.GENERATE in modes else 1  # an edit-only offering always has an input

    def fit(*, exact: bool):
        return offering_fit(takes, Asked(width=width, height=height, exact=exact, images=images))

    try:
        shaped = fit(exact=False)
    except Unfit as refusal:
        return Made(text="not served", note=refusal.message)
    if takes.follows_input is not None and shaped.size_name == takes.follows_input:
        return Made(text="the input's shape")
    made = f"{shaped.width} × {shaped.height}"
    if any(entry["param"] == "size" for entry in shaped.mapped):
        return Made(text=made, note="its nearest size")
    exact = fit(exact=True)
    if exact.resize:
        return Made(
            text=made,
            note=f'with size "{width}x{height}": made at {exact.width} × {exact.height}, '
            f"shrunk to {width} × {height}",
        )
    if (exact.width, exact.height) != (shaped.width, shaped.height):
        return Made(text=made, note=f'with size "{width}x{height}": {exact.width} × {exact.height}')
    return Made(text=made)


def normalization_table(entry: ModelEntry, *, names: list[str]) -> NormalizationTable:
    """How each provider of the model, and the demo that stands in when none of them has a key
    here, takes each parameter: the adapter's own entry first, else the gateway's, as
    `Provider.translate` decides."""
    live = configured_providers()
    demo = demo_provider()
    columns = [
        ProviderColumn(
            slug=slug, name=name, is_installed=slug in PROVIDER_CLASSES, is_live=slug in live
        )
        for slug, name in entry.providers.items()
    ]
    is_demo_live = not any(column.is_live for column in columns)
    columns.append(
        ProviderColumn(slug=demo.slug, name=demo.label, is_installed=True, is_live=is_demo_live)
    )
    tables = [
        PROVIDER_CLASSES[column.slug].parameters if column.is_installed else {}
        for column in columns
    ]
    listed = [name for table in (GATEWAY_PARAMETERS, *tables) for name in table]
    rows = [
        NormalizationRow(name=name, cells=cells)
        for name in dict.fromkeys([*names, *listed])
        if any(cells := [table.get(name) or GATEWAY_PARAMETERS.get(name) for table in tables])
    ]
    return NormalizationTable(columns=columns, rows=rows)


def _allowed(data: dict) -> str:
    if "allowed" in data:
        return data["allowed"]
    if "choices" in data:
        return ", ".join(data["choices"])
    if "min" in data and "max" in data:
        return f"{data['min']}–{data['max']}"
    if "max_length" in data:
        return f"up to {data['max_length']} characters"
    return ""
