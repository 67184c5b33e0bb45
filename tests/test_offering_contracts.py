"""A contract test per offering: every active offering of the catalog, fitted by the gateway
(`fit.offering_fit`, with the request shaped as `services.generation_quote` shapes it) and sent
by its real adapter to its provider's fake, which takes exactly the published schema.

For every size preset of the model (as a ratio and as exact pixels), every size the offering
lists, a few odd exact sizes, both edges of every numeric range and one beyond each, every
choice, every other parameter, and for editors one input image and the most they take:

- the fake accepts the body (no 422: the capabilities claim nothing the service refuses);
- the image it makes has the pixels the fit predicted (or the input's shape, where the offering
  keeps it);
- the fit reports a mapped entry exactly for what was not served as asked: a size made at other
  pixels (exact sizes) or another shape or scale (ratios, the input's shape), a value clamped
  into the offering's range, a parameter the offering does not take.
"""

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest

from playground.catalog.capabilities import Capabilities, Custom, ParamSpec
from playground.catalog.models import ordered_tiers, parse_pixels
from playground.catalog.services import catalog_read
from playground.gateway.fit import SAME_SCALE, SAME_SHAPE, Asked, Fit, offering_fit
from playground.gateway.normalize import input_shaped, is_pixels, resolve_size
from playground.providers.base import ProviderImage, ProviderJob, ProviderRejected
from playground.providers.registry import foreign_flags
from tests import factories
from tests.fakes.fal import FalFake
from tests.fakes.fixtures import adapter_for, run
from tests.fakes.qwen2512 import Qwen2512Fake
from tests.fakes.replicate import ReplicateFake
from tests.fakes.schema import decode_data_uri, image_size
from tests.fakes.server import FakeServer

pytestmark = pytest.mark.usefixtures("fast_polling")

CATALOG = catalog_read()
FAKES: dict[str, type[FakeServer]] = {
    "fal": FalFake,
    "replicate": ReplicateFake,
    "qwen2512": Qwen2512Fake,
}
ODD_SIZES = ("1000x1000", "1183x887", "3000x1000", "64x64")
# The input of every edit: tiny, and of a shape (5:4) no preset has, so that keeping it and
# serving an asked ratio can be told apart.
INPUT_SIZE = (20, 16)
INPUT = factories.png_bytes(*INPUT_SIZE)
# A value to send for a parameter that has neither a range, choices nor a default.
SAMPLES: dict[str, Any] = {
    "negative_prompt": "blurry, watermark",
    "loras": [{"path": "https://example.com/style.safetensors", "scale": 0.5}],
    "lora_weights": "https://example.com/lora.safetensors",
}


# Cases where the fake, following the published schema, makes what the fit cannot predict.
@dataclass(frozen=True, kw_only=True)
class Offer:
    model: str
    sizes: dict  # the model's sizes, as ImageModel.sizes holds them
    provider: str
    provider_model_id: str
    modes: tuple[str, ...]
    takes: Capabilities
    others_take: dict[str, ParamSpec]  # what the model's other offerings take and this one not

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.provider_model_id}"


@dataclass(frozen=True, kw_only=True)
class Case:
    name: str
    mode: str = "generate"
    size: str | None = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    images: int = 0
    params: dict[str, Any] = field(default_factory=dict)
    clamped: dict[str, Any] = field(default_factory=dict)  # param -> the value served instead
    not_taken: frozenset[str] = frozenset()


def offers() -> list[Offer]:
    found = []
    for model in CATALOG["models"]:
        offerings = [
            (offering, Capabilities.from_json(offering.get("capabilities", {})))
            for offering in model["offerings"]
        ]
        for offering, takes in offerings:
            others = {
                name: spec
                for _, other in offerings
                for name, spec in (other.params or {}).items()
                if not takes.takes(name)
            }
            found.append(
                Offer(
                    model=model["id"],
                    sizes=CATALOG["sizes"] | model.get("sizes", {}),
                    provider=offering["provider"],
                    provider_model_id=offering["provider_model_id"],
                    modes=tuple(offering.get("modes", model["modes"])),
                    takes=takes,
                    others_take=others,
                )
            )
    return found


def cases(offer: Offer) -> Iterator[Case]:
    takes = offer.takes
    edit_only = "generate" not in offer.modes
    mode, images = ("edit", 1) if edit_only else ("generate", 0)
    sized = {"mode": mode, "images": images}
    for tier, ratios in ordered_tiers(offer.sizes).items():
        for ratio, pixels in ratios.items():
            yield Case(name=f"size={ratio}@{tier}", aspect_ratio=ratio, resolution=tier, **sized)
            yield Case(name=f"size={pixels}", size=pixels, **sized)
    for name, (width, height) in takes.sizes.items():
        yield Case(name=f"listed {name} as {width}x{height}", size=f"{width}x{height}", **sized)
        if re.fullmatch(r"\d+:\d+", name):
            yield Case(name=f"listed size={name}", aspect_ratio=name, **sized)
    for pixels in ODD_SIZES:
        yield Case(name=f"odd size={pixels}", size=pixels, **sized)
    for name, spec in (takes.params or {}).items():
        for value, served in values(name, spec):
            clamped = {} if served == value else {name: served}
            yield Case(name=f"{name}={value}", params={name: value}, clamped=clamped, **sized)
    if offer.others_take:
        yield Case(
            name="not taken: " + ",".join(offer.others_take),
            params={name: values(name, spec)[0][0] for name, spec in offer.others_take.items()},
            not_taken=frozenset(offer.others_take),
            **sized,
        )
    if "edit" in offer.modes and takes.max_images:
        yield Case(name="edit 1 image", mode="edit", images=1)
        if takes.max_images > 1:
            yield Case(name=f"edit {takes.max_images} images", mode="edit", images=takes.max_images)
        if not edit_only:  # an image-to-image mode beside text to image
            yield Case(name="edit size=16:9", mode="edit", images=1, aspect_ratio="16:9")


def values(name: str, spec: ParamSpec) -> list[tuple[Any, Any]]:
    """(value sent, value the offering serves) for one parameter: the edges of a range and one
    beyond each, every choice, else the default (and for a flag its opposite) or a sample."""
    if spec.choices:
        return [(choice, choice) for choice in spec.choices]
    if spec.low is not None:
        low, high = spec.low, spec.high
        return [(low, low), (high, high), (low - 1, low), (high + 1, high)]
    if isinstance(spec.default, bool):
        return [(spec.default, spec.default), (not spec.default, not spec.default)]
    value = spec.default if spec.default is not None else SAMPLES[name]
    return [(value, value)]


CONTRACTS = [
    pytest.param(
        offer,
        case,
        id=f"{offer.id}[{case.name}]",
    )
    for offer in offers()
    for case in cases(offer)
]


@pytest.fixture(scope="module")
def fakes() -> Iterator[dict[str, FakeServer]]:
    with FalFake() as fal, ReplicateFake() as replicate, Qwen2512Fake() as qwen2512:
        yield {"fal": fal, "replicate": replicate, "qwen2512": qwen2512}


def asked_for(offer: Offer, case: Case) -> Asked:
    """The request as `services.generation_quote` hands it to the fit."""
    sized = case.size is not None or case.aspect_ratio or case.resolution
    follows_input = case.mode == "edit" and not sized
    if follows_input:
        tier = offer.sizes["tiers"][offer.sizes["default_resolution"]]
        default = parse_pixels(tier[offer.sizes["default_ratio"]])
        width, height = input_shaped(default, *INPUT_SIZE)
    else:
        width, height = resolve_size(
            offer.sizes, size=case.size, aspect_ratio=case.aspect_ratio, resolution=case.resolution
        )
    return Asked(
        width=width,
        height=height,
        exact=is_pixels(case.size),
        follows_input=follows_input,
        images=case.images,
        params=case.params,
    )


def job_for(offer: Offer, fit: Fit, case: Case) -> ProviderJob:
    """The upstream job as `runner.GenerationRun._produce` builds it from the route."""
    dropped = foreign_flags(offer.provider)
    sent = {name: value for name, value in fit.params.items() if name not in dropped}
    negative_prompt = sent.pop("negative_prompt", "")
    return ProviderJob(
        model_id=offer.provider_model_id,
        prompt="a lighthouse at dawn",
        negative_prompt=negative_prompt,
        width=fit.width,
        height=fit.height,
        size_name=fit.size_name,
        image_list=offer.takes.image_list,
        seed=7,
        images=(INPUT,) * case.images,
        output_format="png",
        params=sent,
    )


async def pixels(image: ProviderImage, client: httpx.AsyncClient) -> tuple[int, int]:
    """The pixels of a result image, read from its bytes (a fetched URL or a data URI)."""
    if image.url.startswith("data:"):
        return image_size(decode_data_uri(image.url))
    return image_size((await client.get(image.url)).content)


def shape_distance(a: tuple[int, int], b: tuple[int, int]) -> float:
    return abs(math.log(a[0] / a[1]) - math.log(b[0] / b[1]))


def scale_distance(a: tuple[int, int], b: tuple[int, int]) -> float:
    return abs(math.log(a[0] * a[1]) - math.log(b[0] * b[1]))


def served_as_asked(asked: Asked, made: tuple[int, int]) -> bool:
    """Whether the size made is the size asked for: the same pixels for exact pixels, the same
    shape for the input's shape, the same shape at about the same scale for a ratio."""
    target = (asked.width, asked.height)
    if asked.exact:
        return made == target
    if asked.follows_input:
        return shape_distance(made, INPUT_SIZE) < SAME_SHAPE
    return shape_distance(made, target) < SAME_SHAPE and scale_distance(made, target) < SAME_SCALE


def test_every_offering_has_a_fake_and_cases():
    assert {offer.provider for offer in offers()} <= set(FAKES)
    assert all(any(True for _ in cases(offer)) for offer in offers())


@pytest.mark.parametrize(("offer", "case"), CONTRACTS)
def test_the_offering_takes_what_the_fit_sends_and_makes_what_it_predicts(fakes, offer, case):
    check_contract(fakes[offer.provider], offer, case)


def check_contract(fake: FakeServer, offer: Offer, case: Case) -> None:
    asked = asked_for(offer, case)
    fit = offering_fit(offer.takes, asked)
    seen = len(fake.requests)
    job = job_for(offer, fit, case)

    try:
        [size] = run(lambda client: produce(fake, job, client))
    except ProviderRejected as refused:
        body = [request.json for request in fake.requests[seen:] if request.json is not None]
        pytest.fail(f"{offer.id} refused what the fit sent: {refused}\nbody: {body}")

    if fit.size_name is not None and fit.size_name == offer.takes.follows_input:
        assert shape_distance(size, INPUT_SIZE) < 0.02, f"{size} is not the input's shape"
    else:
        assert size == (fit.width, fit.height)
    for name, served in case.clamped.items():
        assert fit.params[name] == served
    expected = set(case.clamped) | set(case.not_taken)
    if not served_as_asked(asked, size):
        expected.add("size")
    assert {entry["param"] for entry in fit.mapped} == expected, fit.mapped


async def produce(fake: FakeServer, job: ProviderJob, client: httpx.AsyncClient) -> list:
    """The pixels of each image the adapter gets from `fake` for `job`."""
    result = await adapter_for(fake).generate(job, client)
    return [await pixels(image, client) for image in result.images]


@pytest.mark.parametrize(
    ("provider_model_id", "claim", "case", "param", "reason"),
    [
        (
            "fal-ai/qwen-image-edit",
            {"params": {"num_inference_steps": ParamSpec(low=2, high=100)}},
            Case(name="steps", mode="edit", images=1, params={"num_inference_steps": 80}),
            "num_inference_steps",
            "less than or equal to 50",
        ),
        (
            "qwen/qwen-image",
            {"params": {"cfg_scale": ParamSpec(low=0, high=20)}},
            Case(name="guidance", params={"cfg_scale": 15}),
            "cfg_scale",
            "input.guidance: Must be less than or equal to 10",
        ),
        (
            "qwen/qwen-image-2512",
            {"custom": Custom(low=256, high=4096, multiple=16)},
            Case(name="wide", size="3008x1008"),
            "width",
            "input.width: Must be less than or equal to 2048",
        ),
    ],
    ids=["fal steps", "replicate guidance", "replicate custom size"],
)
def test_a_capability_wider_than_the_service_fails_its_contract(
    fakes, provider_model_id, claim, case, param, reason
):
    [offer] = [offer for offer in offers() if offer.provider_model_id == provider_model_id]
    sizes = {key: value for key, value in claim.items() if key != "params"}
    params = offer.takes.params | claim.get("params", {})
    wider = replace(offer, takes=replace(offer.takes, params=params, **sizes))
    fake = fakes[offer.provider]
    fit = offering_fit(wider.takes, asked_for(wider, case))
    assert fit.is_as_asked  # the wider claim lets the value through

    with pytest.raises(ProviderRejected) as caught:
        run(lambda client: produce(fake, job_for(wider, fit, case), client))
    assert (caught.value.status, caught.value.param) == (422, param)
    assert reason in str(caught.value)
    with pytest.raises(pytest.fail.Exception, match="refused what the fit sent"):
        check_contract(fake, wider, case)
