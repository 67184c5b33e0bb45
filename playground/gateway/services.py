"""The one path every image takes, shared by the API and the playground, before and after its
run (`runner.py`).

`generation_submit` checks and stores the input images, then `generation_create` (sync, one
transaction) validates the request against the catalog, plans the routes and holds the
worst-case price. `generation_cancel` asks a job to stop; `generation_sweep_stale` deals with
jobs whose worker died. `image_publish` and its neighbours put a result in its model's gallery
and take it out.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from playground.accounts.models import ApiKey, LedgerEntry
from playground.accounts.services import credits_hold, credits_release_stale, credits_settle
from playground.catalog.models import ImageModel, Mode
from playground.catalog.selectors import catalog_current
from playground.providers.base import ProviderError
from playground.providers.clients import client_for
from playground.ratelimit import at_most

from . import images
from .errors import IdempotencyMismatch, InvalidRequest, NoProvider, NotFound
from .fetch import FetchRefused, fetch_bytes, require_public_url
from .fit import Asked
from .models import Generation, GenerationImage
from .normalize import input_shaped, is_pixels, names_size, resolve_size
from .router import Route, route_plan
from .runner import started
from .schemas import MAX_SEED, GenerationRequest

# A running job whose heartbeat is this old lost its worker; one with saved upstream jobs is
# resumed from them.
DEAD_AFTER = timedelta(minutes=1)
# A hold this old belongs to a job that died: longer than any queue wait plus a provider's
# longest job (the adapters give up after 10 minutes).
STALE_AFTER = timedelta(minutes=30)


async def generation_submit(
    *,
    user: AbstractBaseUser,
    request: GenerationRequest,
    source: str,
    base_url: str,
    api_key: ApiKey | None = None,
    idempotency_key: str | None = None,
    start: bool = False,
) -> tuple[Generation, bool]:
    """Check, store the input images, create and hold: `(generation, created)`.

    With `start`, the generation is created running, for the caller to run it at once
    (`runner.generation_run` with `Start.CREATED`); otherwise it is queued. With an
    `idempotency_key` already used by this user for the same request, nothing new is created or
    charged and the first generation comes back with `created` False.
    """
    if request.webhook_url:
        await _check_webhook(request.webhook_url)
    fetched = [await _fetch_input(url, param="image") for url in request.image_urls]
    uploads = [*request.images, *fetched]
    mask = await _fetch_input(request.mask_url, param="mask") if request.mask_url else request.mask
    input_names = await _store_inputs(request, uploads, mask, user_id=user.pk) if uploads else None
    return await sync_to_async(generation_create)(
        user=user,
        request=request,
        source=source,
        base_url=base_url,
        api_key=api_key,
        inputs=input_names,
        idempotency_key=idempotency_key,
        start=start,
    )


async def _fetch_input(url: str, *, param: str) -> bytes:
    client = client_for("inputs")
    try:
        return await fetch_bytes(url, client, max_bytes=settings.MAX_UPLOAD_BYTES, public_only=True)
    except (FetchRefused, ProviderError) as exc:
        raise InvalidRequest(f"Could not use the {param} URL: {exc}", param=param) from exc


async def _check_webhook(url: str) -> None:
    """Refuse a webhook the job could never call now, not after it has run (webhooks.py checks
    the address again when it sends)."""
    try:
        await require_public_url(url)
    except FetchRefused as exc:
        raise InvalidRequest(f"Could not use the webhook_url: {exc}", param="webhook_url") from exc


async def _store_inputs(
    request: GenerationRequest, uploads: list[bytes], mask: bytes | None, *, user_id: int
) -> dict:
    """Check every input image, and the mask against the first, then store them all (nothing
    is stored if one is refused); the job reads them back from storage. Keeps the first
    image's pixels, for the size of an edit that names none.

    Every file's header is read first (format, pixels, frames: milliseconds, nothing decoded),
    their pixels together held to `MAX_EDIT_PIXELS`, and the request quoted (an unknown model,
    more images than it takes, a size no offering fits), so one bad file among many, or a
    request the catalog refuses, is refused before any image is decoded. Only then is each
    decoded, one at a time on the uploads' own thread, while the user holds one of their
    `MAX_DECODES_PER_USER` decoding slots."""
    checked = [(data, _read_input(data, "image"), "image") for data in uploads]
    first = checked[0][1]
    if mask is not None:
        checked.append((mask, _read_input(mask, "mask", mask_for=first), "mask"))
    pixels = sum(image.width * image.height for _, image, _ in checked)
    if pixels > settings.MAX_EDIT_PIXELS:
        raise InvalidRequest(
            f"The images of this edit have {pixels:,} pixels together; at most "
            f"{settings.MAX_EDIT_PIXELS:,}. Send fewer or smaller images.",
            param="image",
        )
    await sync_to_async(generation_quote)(request=request, input_size=(first.width, first.height))
    async with at_most(
        f"decodes:user:{user_id}",
        settings.MAX_DECODES_PER_USER,
        retry_after=settings.DECODE_RETRY_AFTER_SECONDS,
        message=(
            f"Too many edits with uploads at once: this account's images are checked "
            f"{settings.MAX_DECODES_PER_USER} edits at a time. Retry in "
            f"{settings.DECODE_RETRY_AFTER_SECONDS} s."
        ),
    ):
        for data, _, param in checked:
            try:
                await images.off_loop_input(images.decode_input, data)
            except images.CorruptImage as exc:
                raise InvalidRequest(f"Invalid '{param}': {exc}.", param=param) from exc
        names = await images.off_loop_input(_store_checked, checked)
    return {
        "images": names[: len(uploads)],
        "mask": names[len(uploads)] if mask is not None else None,
        "first_size": [first.width, first.height],
    }


def _read_input(
    data: bytes, param: str, *, mask_for: images.InputImage | None = None
) -> images.InputImage:
    try:
        return images.read_input(data, mask_for=mask_for)
    except images.CorruptImage as exc:
        raise InvalidRequest(f"Invalid '{param}': {exc}.", param=param) from exc


def _store_checked(checked: list[tuple[bytes, images.InputImage, str]]) -> list[str]:
    return [
        images.store(data, extension=image.extension, folder="inputs") for data, image, _ in checked
    ]


@dataclass(frozen=True, kw_only=True)
class Quote:
    """What a request costs: the likely charge (cheapest route) and the hold (dearest route)."""

    model: ImageModel
    width: int
    height: int
    routes: list[Route]

    @property
    def charge_micros(self) -> int:
        return self.routes[0].cost_micros

    @property
    def hold_micros(self) -> int:
        return max(route.cost_micros for route in self.routes)


def generation_quote(
    *, request: GenerationRequest, input_size: tuple[int, int] | None = None
) -> Quote:
    """Check the request against the catalog, fit it to the offerings and price it; the price
    preview, the hold and the charge all come from here. `input_size` is the first input
    image's pixels, when they are known."""
    model = catalog_current().model(request.model)
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
    follows_input = request.mode == Mode.EDIT and not (
        names_size(request.size) or request.aspect_ratio or request.resolution
    )
    if follows_input:
        width, height = input_shaped(model.default_size, *(input_size or model.default_size))
    else:
        width, height = resolve_size(
            model.sizes,
            size=request.size,
            aspect_ratio=request.aspect_ratio,
            resolution=request.resolution,
        )
    asked = Asked(
        width=width,
        height=height,
        exact=is_pixels(request.size),
        follows_input=follows_input,
        images=len(request.images) + len(request.image_urls),
        input_size=input_size,
        params=({"negative_prompt": request.negative_prompt} if request.negative_prompt else {})
        | request.extra,
    )
    routes = route_plan(model=model, mode=request.mode, asked=asked, n=request.n)
    if not routes:
        raise NoProvider(f"No provider can serve '{model.slug}' right now.")
    return Quote(model=model, width=width, height=height, routes=routes)


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
    start: bool = False,
) -> tuple[Generation, bool]:
    if idempotency_key:
        existing = Generation.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replayable(existing, request), False
    inputs = inputs or {"images": [], "mask": None, "first_size": None}
    first_size = inputs["first_size"]
    quote = generation_quote(request=request, input_size=tuple(first_size) if first_size else None)
    params = request.as_params() | {
        "inputs": inputs,
        "base_url": base_url,
        "fingerprint": request.fingerprint(),
    }
    try:
        # A savepoint only where a concurrent request may have taken the idempotency key.
        with transaction.atomic(savepoint=idempotency_key is not None):
            generation = Generation.objects.create(
                user=user,
                api_key=api_key,
                source=source,
                model=quote.model,
                mode=request.mode,
                prompt=request.prompt,
                params=params,
                idempotency_key=idempotency_key,
                width=quote.width,
                height=quote.height,
                n=request.n,
                seed=request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1),
                routes=[route.as_json() for route in quote.routes],
                hold_micros=quote.hold_micros,
                **started() if start else {},
            )
    except IntegrityError:
        if idempotency_key is None:
            raise
        # The same idempotency key, created by a concurrent request.
        existing = Generation.objects.get(user=user, idempotency_key=idempotency_key)
        return _replayable(existing, request), False
    credits_hold(
        user=user,
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


@transaction.atomic
def generation_cancel(*, generation: Generation) -> bool:
    """Ask a queued or running generation of its owner to stop. A queued one ends here, its
    hold released; a running one becomes cancelling, and its worker stops the upstream jobs,
    ends it and releases the hold."""
    queued = Generation.objects.filter(pk=generation.pk, status=Generation.Status.QUEUED)
    if queued.update(**Generation.cancelled(), finished_at=timezone.now()):
        credits_settle(generation_id=generation.pk, cost_micros=0)
        return True
    running = Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING)
    return bool(running.update(status=Generation.Status.CANCELLING))


def generation_sweep_stale(*, older_than: timedelta = STALE_AFTER) -> tuple[list, list]:
    """Deal with generations whose job died (worker killed, server restarted).

    A running one whose heartbeat stopped and that saved its upstream jobs, or a cancelling one
    whose heartbeat stopped, is handed to a new worker to collect or stop them (so nothing is
    paid twice). Holds older than `older_than` of every other unfinished job are released once,
    and those generations marked failed (cancelled, if their user had asked to stop them).
    Returns the ids resumed and the ids released.

    The release and the marking run in separate transactions (the ledger's locks, then the
    generations'), and the marking finds its rows by their release, so a crash between them is
    repaired next time. A worker that finishes late fails its conditional update and charges
    nothing."""
    from .tasks import resume_generation  # the task module imports this one

    now = timezone.now()
    running = Generation.objects.filter(status__in=Generation.UNDER_WAY)
    dead = running.filter(heartbeat_at__lt=now - DEAD_AFTER)
    resumed = []
    for generation_id in dead.exclude(status=Generation.Status.RUNNING, upstream=[]).values_list(
        "pk", flat=True
    ):
        # Claim it with a fresh heartbeat, so two sweeps never resume the same job.
        if dead.filter(pk=generation_id).update(heartbeat_at=now):
            resume_generation.enqueue(str(generation_id))
            resumed.append(generation_id)
    alive = running.filter(heartbeat_at__gte=now - DEAD_AFTER).values_list("pk", flat=True)
    released = credits_release_stale(held_before=now - older_than, keep=list(alive))
    abandoned = Generation.objects.filter(ledger_entries__kind=LedgerEntry.Kind.RELEASE)
    abandoned.filter(status=Generation.Status.CANCELLING).update(
        **Generation.cancelled(), finished_at=now
    )
    abandoned.filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]).update(
        status=Generation.Status.FAILED,
        error_code="abandoned",
        error_message="The job stopped without finishing; nothing was charged.",
        finished_at=now,
    )
    return resumed, released


# The galleries: an owner publishes a result and takes it back; staff hide one.


def image_publish(*, user: AbstractBaseUser, image_id: int) -> bool:
    """Show a result image of `user`'s in its model's gallery; False when it is not theirs or
    not a finished image of a succeeded generation. Publishing again keeps the first date, and
    an image staff hid stays hidden."""
    images = GenerationImage.objects.filter(
        pk=image_id,
        generation__user=user,
        generation__status=Generation.Status.SUCCEEDED,
        generation__deleted_at__isnull=True,
    )
    return bool(images.update(published_at=Coalesce("published_at", Value(timezone.now()))))


def image_unpublish(*, user: AbstractBaseUser, image_id: int) -> bool:
    """Take a result image of `user`'s out of its model's gallery; False when it is not theirs."""
    images = GenerationImage.objects.filter(pk=image_id, generation__user=user)
    return bool(images.update(published_at=None))


def image_hide(*, image_ids: list[int]) -> int:
    """Staff take images out of the galleries, whatever their owners do next; returns how many
    were not hidden yet."""
    images = GenerationImage.objects.filter(pk__in=image_ids, hidden_at__isnull=True)
    return images.update(hidden_at=timezone.now())


def image_unhide(*, image_ids: list[int]) -> int:
    """Let the galleries show these images again while their owners publish them; returns how
    many were hidden."""
    images = GenerationImage.objects.filter(pk__in=image_ids, hidden_at__isnull=False)
    return images.update(hidden_at=None)
