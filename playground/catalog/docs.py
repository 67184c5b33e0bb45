"""The reference sections of a model's page, built from the catalog data and the provider adapters.

Nothing here is written per model: the parameter tables come from the model's `docs` data, the
size presets from its `sizes`, and the normalization table from the adapters' parameter tables
(the ones `Provider.translate` applies), so the page says what the gateway does.
"""

from dataclasses import dataclass, replace

from playground.providers.base import GATEWAY_PARAMETERS, Behaviour, Param
from playground.providers.registry import PROVIDER_CLASSES, configured_providers, demo_provider

from .models import ImageModel, Mode, ordered_tiers, parse_pixels
from .selectors import ModelEntry

PARAMETER_GROUPS = {
    "core": "Core parameters",
    "size": "Size and shape",
    "media": "Input images",
    "output": "Output and delivery",
    "advanced": "Generation controls",
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
class SizePreset:
    ratio: str
    resolution: str
    width: int
    height: int

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


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
    parameters = entry.model.docs.get("parameters", [])
    rows = parameter_rows(parameters, modes=entry.model.modes, providers=entry.providers)
    return parameter_groups(rows, parameters)


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


def size_presets(model: ImageModel) -> list[SizePreset]:
    presets = []
    for resolution, ratios in ordered_tiers(model.sizes).items():
        for ratio, pixels in ratios.items():
            width, height = parse_pixels(pixels)
            preset = SizePreset(ratio=ratio, resolution=resolution, width=width, height=height)
            presets.append(preset)
    return presets


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
    if "choices" in data:
        return ", ".join(data["choices"])
    if "min" in data and "max" in data:
        return f"{data['min']}–{data['max']}"
    if "max_length" in data:
        return f"up to {data['max_length']} characters"
    return ""
