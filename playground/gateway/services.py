"""The one path every image takes, shared by the API and the playground.

`generation_create` (sync, one transaction) validates the request against the catalog, plans the
routes and holds the worst-case price. `generation_execute` (async) tries the routes cheapest
first, emulates `n`, converts and stores the images, then settles: the cost of what was produced
is captured and the rest of the hold released. A failure releases everything.
"""

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from playground.accounts.models import ApiKey
from playground.accounts.services import credits_hold, credits_settle
from playground.catalog.selectors import model_get_active
from playground.providers.base import ProviderError, ProviderImage, ProviderJob
from playground.providers.clients import client_for
from playground.providers.registry import foreign_flags

from . import images
from .errors import (
    GatewayError,
    IdempotencyMismatch,
    InvalidRequest,
    NoProvider,
    NotFound,
    UpstreamFailed,
)
from .fetch import FetchRefused, fetch_bytes
from .models import Generation, GenerationImage
from .normalize import resolve_size
from .router import provider_for, route_plan
from .schemas import MAX_SEED, GenerationRequest

logger = logging.getLogger(__name__)

PROVIDER_REJECTED = "provider_rejected"
MAX_RESULT_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class StoredImage:
    name: str
    image: images.EncodedImage
    seed: int | None


async def generation_submit(
    *,
    user: AbstractBaseUser,
    request: GenerationRequest,
    source: str,
    base_url: str,
    api_key: ApiKey | None = None,
    idempotency_key: str | None = None,
) -> tuple[Generation, bool]:
    """Check, store the input images, create and hold: `(generation, created)`.

    With an `idempotency_key` already used by this user for the same request, nothing new is
    created or charged and the first generation comes back with `created` False.
    """
    client = client_for("inputs")
    fetched = [await _fetch_input(url, client) for url in request.image_urls]
    uploads = [*request.images, *fetched]
    input_names = await asyncio.to_thread(_store_inputs, uploads, request.mask)
    return await sync_to_async(generation_create)(
        user=user,
        request=request,
        source=source,
        base_url=base_url,
        api_key=api_key,
        inputs=input_names,
        idempotency_key=idempotency_key,
    )


async def _fetch_input(url: str, client) -> bytes:
    try:
        return await fetch_bytes(url, client, max_bytes=settings.MAX_UPLOAD_BYTES, public_only=True)
    except (FetchRefused, ProviderError) as exc:
        raise InvalidRequest(f"Could not use the image URL: {exc}", param="image") from exc


def _store_inputs(uploads: list[bytes], mask: bytes | None) -> dict:
    """Check every input image and store it; the job reads them back from storage."""
    names = {"images": [], "mask": None}
    for data, param in [
        *((data, "image") for data in uploads),
        *([(mask, "mask")] if mask else []),
    ]:
        try:
            extension = images.check_input(data)
        except images.CorruptImage as exc:
            raise InvalidRequest(f"Invalid '{param}': {exc}.", param=param) from exc
        name = images.store(data, extension=extension, folder="inputs")
        if param == "mask":
            names["mask"] = name
        else:
            names["images"].append(name)
    return names


@transaction.atomic
def generation_create(
    *,
    user: AbstractBaseUser,
    request: GenerationRequest,
    source: str,
    base_url: str = "",
    api_key: ApiKey | None = None,
    inputs: dict | None = None,
    idempotency_key: str | None = None,
) -> tuple[Generation, bool]:
    if idempotency_key:
        existing = Generation.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replayable(existing, request), False
    model = model_get_active(slug=request.model)
    if model is None:
        raise NotFound(
            f"The model '{request.model}' does not exist. GET /v1/models lists the model ids.",
            param="model",
            code="model_not_found",
        )
    if not model.has_mode(request.mode):
        raise InvalidRequest(
            f"The model '{model.slug}' does not support {request.mode}; it supports "
            f"{', '.join(model.modes)}.",
            param="model",
        )
    width, height = resolve_size(
        model.sizes,
        size=request.size,
        aspect_ratio=request.aspect_ratio,
        resolution=request.resolution,
    )
    routes = route_plan(model=model, mode=request.mode, width=width, height=height, n=request.n)
    if not routes:
        raise NoProvider(f"No provider can serve '{model.slug}' right now.")
    params = request.as_params() | {
        "inputs": inputs or {"images": [], "mask": None},
        "base_url": base_url,
        "fingerprint": request.fingerprint(),
    }
    try:
        with transaction.atomic():
            generation = Generation.objects.create(
                user=user,
                api_key=api_key,
                source=source,
                model=model,
                mode=request.mode,
                prompt=request.prompt,
                params=params,
                idempotency_key=idempotency_key,
                width=width,
                height=height,
                n=request.n,
                seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
                routes=[route.as_json() for route in routes],
                hold_micros=max(route.cost_micros for route in routes),
            )
    except IntegrityError:  # the same idempotency key, created by a concurrent request
        existing = Generation.objects.get(user=user, idempotency_key=idempotency_key)
        return _replayable(existing, request), False
    credits_hold(
        user_id=user.pk,
        api_key_id=api_key.pk if api_key else None,
        generation_id=generation.pk,
        amount_micros=generation.hold_micros,
    )
    return generation, True


def _replayable(generation: Generation, request: GenerationRequest) -> Generation:
    if generation.params.get("fingerprint") != request.fingerprint():
        raise IdempotencyMismatch(
            "This Idempotency-Key was already used with different parameters; use a new key.",
            param="Idempotency-Key",
        )
    return generation


async def generation_execute(*, generation_id) -> Generation:
    """Run a queued generation to the end; returns it finished (or as another worker left it)."""
    claimed = await Generation.objects.filter(
        pk=generation_id, status=Generation.Status.QUEUED
    ).aupdate(status=Generation.Status.RUNNING, started_at=timezone.now())
    generation = await Generation.objects.select_related("model").aget(pk=generation_id)
    if not claimed:
        return generation

    attempts: list[dict] = []
    error: GatewayError = UpstreamFailed("Every provider failed for this request.")
    for route in generation.routes:
        started = time.monotonic()
        try:
            stored = await _produce(generation, route)
        except ProviderError as exc:
            attempts.append(_attempt(route, started, status=exc.status, error=str(exc)))
            logger.warning(
                "provider attempt failed",
                extra={"generation": str(generation.pk), "provider": route["provider"]},
            )
            if not exc.retryable:
                error = InvalidRequest(
                    f"The provider rejected the request: {exc}", code=PROVIDER_REJECTED
                )
                break
            continue
        except images.CorruptImage as exc:
            attempts.append(_attempt(route, started, status=None, error=str(exc)))
            continue
        attempts.append(_attempt(route, started, status=200, error=""))
        await sync_to_async(_generation_succeed)(
            generation=generation, route=route, stored=stored, attempts=attempts
        )
        return await Generation.objects.select_related("model").aget(pk=generation_id)

    await sync_to_async(_generation_fail)(generation=generation, error=error, attempts=attempts)
    return await Generation.objects.select_related("model").aget(pk=generation_id)


def generation_error(generation: Generation) -> GatewayError:
    """The API error for a failed generation, as it was recorded."""
    error_class = InvalidRequest if generation.error_code == PROVIDER_REJECTED else UpstreamFailed
    return error_class(generation.error_message)


async def _produce(generation: Generation, route: dict) -> list[StoredImage]:
    """Ask one provider for all n images (in parallel calls when it makes fewer per call)."""
    provider = provider_for(route)
    params = generation.params
    inputs, mask = await asyncio.to_thread(_read_inputs, params["inputs"])
    dropped = foreign_flags(provider.slug)
    extra = {name: value for name, value in params["extra"].items() if name not in dropped}
    per_call = provider.max_images_per_call
    jobs = [
        ProviderJob(
            model_id=route["provider_model_id"],
            prompt=generation.prompt,
            negative_prompt=params["negative_prompt"],
            width=generation.width,
            height=generation.height,
            seed=(generation.seed + first) % (MAX_SEED + 1),
            n=min(per_call, generation.n - first),
            images=inputs,
            mask=mask,
            output_format=params["output_format"],
            params=extra,
        )
        for first in range(0, generation.n, per_call)
    ]
    client = client_for(provider.slug)
    results = await asyncio.gather(*(provider.generate(job, client) for job in jobs))
    produced = [image for result in results for image in result.images][: generation.n]
    raw = await asyncio.gather(*(_image_bytes(image, client) for image in produced))
    return await asyncio.to_thread(_convert_and_store, raw, produced, params)


def _read_inputs(inputs: dict) -> tuple[tuple[bytes, ...], bytes | None]:
    mask = images.read(inputs["mask"]) if inputs["mask"] else None
    return tuple(images.read(name) for name in inputs["images"]), mask


async def _image_bytes(image: ProviderImage, client) -> bytes:
    if image.data is not None:
        return image.data
    try:
        return await fetch_bytes(image.url or "", client, max_bytes=MAX_RESULT_BYTES)
    except FetchRefused as exc:
        raise images.CorruptImage(f"the provider's result could not be fetched: {exc}") from exc


def _convert_and_store(
    raw: list[bytes], produced: list[ProviderImage], params: dict
) -> list[StoredImage]:
    stored = []
    for data, image in zip(raw, produced, strict=True):
        encoded = images.encode(
            data,
            output_format=params["output_format"],
            compression=params["output_compression"],
        )
        name = images.store(encoded.data, extension=encoded.output_format)
        stored.append(StoredImage(name=name, image=encoded, seed=image.seed))
    return stored


def _attempt(route: dict, started: float, *, status: int | None, error: str) -> dict:
    return {
        "provider": route["provider"],
        "status": status,
        "latency_ms": round((time.monotonic() - started) * 1000),
        "error": error,
    }


@transaction.atomic
def _generation_succeed(
    *, generation: Generation, route: dict, stored: list[StoredImage], attempts: list[dict]
) -> None:
    per_image = route["cost_micros"] // generation.n
    cost_micros = per_image * len(stored)
    GenerationImage.objects.bulk_create(
        GenerationImage(
            generation=generation,
            index=index,
            file=item.name,
            content_type=item.image.content_type,
            width=item.image.width,
            height=item.image.height,
            size_bytes=len(item.image.data),
            seed=item.seed,
        )
        for index, item in enumerate(stored)
    )
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.SUCCEEDED,
        provider=route["provider"],
        attempts=attempts,
        cost_micros=cost_micros,
        finished_at=timezone.now(),
    )
    credits_settle(
        user_id=generation.user_id,
        api_key_id=generation.api_key_id,
        generation_id=generation.pk,
        cost_micros=cost_micros,
    )


@transaction.atomic
def _generation_fail(*, generation: Generation, error: GatewayError, attempts: list[dict]) -> None:
    Generation.objects.filter(pk=generation.pk).update(
        status=Generation.Status.FAILED,
        attempts=attempts,
        error_code=error.code or "",
        error_message=error.message,
        finished_at=timezone.now(),
    )
    credits_settle(
        user_id=generation.user_id,
        api_key_id=generation.api_key_id,
        generation_id=generation.pk,
        cost_micros=0,
    )
