"""The one small interface every upstream protocol implements.

Adapters get plain data in (`ProviderJob`) and give plain data out (`ProviderResult`); they import
nothing from the other apps, and raise only the `ProviderError` family below.

An adapter for a queue protocol implements `submit` (returns a JSON-safe handle the gateway saves,
so a restarted worker can resume or cancel), `wait` (polls until done, reporting progress) and
`cancel`. A synchronous protocol overrides `generate` instead.

Each adapter also declares, as data, how it takes every public parameter (`parameters`): passed
through, renamed, converted or emulated by the gateway. `translate` applies that table; the docs
pages show it.
"""

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

import httpx


@dataclass(frozen=True, kw_only=True)
class ProviderJob:
    """One upstream call: produce `n` images for this prompt at this size.

    `params` holds every other parameter of the request by its public name (cfg_scale, strength,
    num_inference_steps, provider flags such as go_fast, and parameters nobody knows), already
    fitted to what this offering takes. `size_name` is the provider's own size value to send
    (a ratio such as "16:9", or "match_input_image"); None means exact pixels, `width` x
    `height`; "" means no size at all (the provider keeps the input's shape). `image_list`
    says whether the offering's image field is a list or takes one image.
    """

    model_id: str
    prompt: str
    width: int
    height: int
    seed: int
    size_name: str | None = None
    image_list: bool = True
    n: int = 1
    negative_prompt: str = ""
    images: tuple[bytes, ...] = ()
    mask: bytes | None = None
    output_format: str = "png"
    params: dict[str, Any] = field(default_factory=dict)
    previews: int = 0  # in-progress pictures the caller would like (a stream's partial_images)


@dataclass(frozen=True, kw_only=True)
class ProviderImage:
    """An image as the provider returned it: the bytes, or a URL (http(s) or data:) to fetch."""

    data: bytes | None = None
    url: str | None = None
    seed: int | None = None
    flagged: bool = False  # the provider's safety filter withheld it (fal sends a black image)


@dataclass(frozen=True, kw_only=True)
class ProviderResult:
    images: list[ProviderImage]
    request_id: str = ""


class ProgressStatus(StrEnum):
    QUEUED = "queued"  # waiting for a worker at the provider
    RUNNING = "running"  # being generated


@dataclass(frozen=True, kw_only=True)
class ProviderProgress:
    """What the provider says while a job runs, for the playground's live card."""

    status: str  # a ProgressStatus
    queue_position: int | None = None
    logs: tuple[str, ...] = ()
    preview: bytes | None = None  # an in-progress picture, for a job that asked for previews


ProgressCallback = Callable[[ProviderProgress], Awaitable[None]]
HandleCallback = Callable[[dict[str, Any]], Awaitable[None]]


class ProviderError(Exception):
    """An upstream call failed. `retryable` says whether another provider may succeed."""

    retryable = True

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class ProviderUnavailable(ProviderError):
    """Connection error, timeout, 5xx or a malformed answer: try again later or elsewhere."""


class ProviderRateLimited(ProviderError):
    def __init__(self, message: str, *, status: int | None = 429, retry_after: float | None = None):
        super().__init__(message, status=status)
        self.retry_after = retry_after


class ProviderRejected(ProviderError):
    """The provider refused the input against its own schema (a 400 or 422): not worth
    repeating there, but another offering may take it. `param` is the public name of the
    parameter it named, when it named one."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, param: str | None = None):
        super().__init__(message, status=status)
        self.param = param


class ProviderFlagged(ProviderError):
    """The provider's safety filter withheld every image of the job."""

    retryable = False


class Behaviour(StrEnum):
    PASSTHROUGH = "passthrough"  # sent as-is
    RENAMED = "renamed"  # same value under the provider's field name
    CONVERTED = "converted"  # turned into the provider's native form
    EMULATED = "emulated"  # done by the gateway; the provider never sees it
    IGNORED = "ignored"  # not sent: the provider has no such option


@dataclass(frozen=True)
class Param:
    """How one provider takes one public parameter."""

    behaviour: Behaviour
    target: str = ""  # the provider's field name, for renamed and converted parameters
    note: str = ""


# The public parameters every provider may be asked for; anything else in an adapter's table is
# a flag of that provider alone.
STANDARD_PARAMETERS = frozenset(
    {
        "prompt",
        "negative_prompt",
        "size",
        "seed",
        "n",
        "image",
        "mask",
        "output_format",
        "cfg_scale",
        "strength",
        "num_inference_steps",
        "response_format",
        "output_compression",
        "aspect_ratio",
        "resolution",
        # OpenAI's own.
        "stream",
        "partial_images",
        "background",
        "quality",
        "moderation",
        "input_fidelity",
        "style",
        "user",
        "safety_identifier",
    }
)

# Parameters the gateway always handles itself, whatever the provider.
GATEWAY_PARAMETERS: dict[str, Param] = {
    "n": Param(Behaviour.EMULATED, note="parallel calls when the provider makes fewer per call"),
    "response_format": Param(Behaviour.EMULATED, note="images are stored here, then url or b64"),
    "output_compression": Param(Behaviour.EMULATED, note="applied when converting the format"),
    "aspect_ratio": Param(Behaviour.CONVERTED, "size", "resolved to pixels from the catalog"),
    "resolution": Param(Behaviour.CONVERTED, "size", "resolved to pixels from the catalog"),
    "stream": Param(Behaviour.EMULATED, note="OpenAI's events, written by the gateway"),
    "user": Param(Behaviour.IGNORED, note="never sent to a provider"),
    "safety_identifier": Param(Behaviour.IGNORED, note="never sent to a provider"),
}

# How an adapter of a provider that gives no previews and makes opaque images only takes
# OpenAI's streaming and background (its table adds these).
WITHOUT_PREVIEWS_OR_ALPHA: dict[str, Param] = {
    "partial_images": Param(Behaviour.IGNORED, note="no previews: only the finished images"),
    "background": Param(
        Behaviour.IGNORED, note="opaque images only: transparent is refused with a 400"
    ),
}


class Provider:
    """Base class of the adapters. Subclasses set the class attributes and the protocol methods."""

    slug: ClassVar[str]
    label: ClassVar[str]
    key_env: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""
    is_demo: ClassVar[bool] = False
    # Serves every catalog model under the catalog's id, without an offering of its own.
    serves_every_model: ClassVar[bool] = False
    max_images_per_call: ClassVar[int] = 1
    parameters: ClassVar[dict[str, Param]] = {}

    def __init__(self, *, api_key: str = "", base_url: str = ""):
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_environment(cls) -> "Provider | None":
        """The adapter configured from the environment, or None when its key is not set."""
        api_key = os.environ.get(cls.key_env, "") if cls.key_env else ""
        if cls.key_env and not api_key:
            return None
        base_url = os.environ.get(cls.base_url_env, "") if cls.base_url_env else ""
        return cls(api_key=api_key, base_url=base_url or cls.default_base_url)

    async def generate(
        self,
        job: ProviderJob,
        client: httpx.AsyncClient,
        *,
        on_submitted: HandleCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ProviderResult:
        submitting = asyncio.ensure_future(self.submit(job, client))
        try:
            await asyncio.shield(submitting)
        finally:
            # Given up on while the provider was being asked, this still waits for its answer:
            # once it has the job, the handle goes to the gateway, which then asks it to stop
            # the job (left running there, it would be billed).
            await asyncio.wait([submitting])
            if on_submitted is not None and submitting.exception() is None:
                await on_submitted(submitting.result())
        handle = submitting.result()
        return await self.wait(handle, client, on_progress=on_progress)

    async def submit(self, job: ProviderJob, client: httpx.AsyncClient) -> dict[str, Any]:
        raise NotImplementedError

    async def wait(
        self,
        handle: dict[str, Any],
        client: httpx.AsyncClient,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> ProviderResult:
        raise NotImplementedError

    async def cancel(self, handle: dict[str, Any], client: httpx.AsyncClient) -> None:
        """Ask the provider to stop a submitted job; synchronous protocols have nothing to stop."""

    def translate(
        self, values: dict[str, Any], converters: dict[str, Callable[[Any], Any]]
    ) -> dict:
        """The provider's request body for `values` (public names), following `parameters`.

        Renamed values move to their target field, converted ones go through `converters[name]`,
        emulated ones stay here. A parameter the table does not name passes straight through
        (the gateway has already dropped the flags of other providers).
        """
        body: dict[str, Any] = {}
        for name, value in values.items():
            if value is None:
                continue
            param = self.parameters.get(name) or GATEWAY_PARAMETERS.get(name)
            if param is None or param.behaviour == Behaviour.PASSTHROUGH:
                body[name] = value
            elif param.behaviour == Behaviour.RENAMED:
                body[param.target] = value
            elif param.behaviour == Behaviour.CONVERTED and name in converters:
                body[param.target] = converters[name](value)
        return body
