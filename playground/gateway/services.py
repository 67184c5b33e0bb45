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
from dataclasses import asdict, dataclass
from datetime import timedelta

import stamina
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from playground.accounts.models import ApiKey, LedgerEntry
from playground.accounts.services import credits_hold, credits_release_stale, credits_settle
from playground.catalog.models import ImageModel
from playground.catalog.selectors import catalog_current
from playground.providers.base import (
    ProviderError,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderRateLimited,
    ProviderResult,
)
from playground.providers.clients import client_for
from playground.providers.registry import foreign_flags

from . import circuit, images
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
from .router import Route, provider_for, route_plan
from .schemas import MAX_SEED, GenerationRequest
from .selectors import generations_answerable

logger = logging.getLogger(__name__)

PROVIDER_REJECTED = "provider_rejected"
MAX_RESULT_BYTES = 64 * 1024 * 1024
MAX_RETRY_AFTER_SECONDS = 30.0
HEARTBEAT_SECONDS = 2.0  # also how soon a running job notices the user's cancel
# A running job whose heartbeat is this old lost its worker; one with saved upstream jobs is
# resumed from them.
DEAD_AFTER = timedelta(minutes=1)
# A hold this old belongs to a job that died: longer than any queue wait plus a provider's
# longest job (the adapters give up after 10 minutes).
STALE_AFTER = timedelta(minutes=30)


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
    start: bool = False,
) -> tuple[Generation, bool]:
    """Check, store the input images, create and hold: `(generation, created)`.

    With `start`, the generation is created running, for the caller to run it at once
    (`generation_run`); otherwise it is queued. With an `idempotency_key` already used by this
    user for the same request, nothing new is created or charged and the first generation comes
    back with `created` False.
    """
    fetched = [await _fetch_input(url, client_for("inputs")) for url in request.image_urls]
    uploads = [*request.images, *fetched]
    input_names = (
        await images.off_loop(_store_inputs, uploads, request.mask)
        if uploads or request.mask
        else None
    )
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


async def _fetch_input(url: str, client) -> bytes:
    try:
        return await fetch_bytes(url, client, max_bytes=settings.MAX_UPLOAD_BYTES, public_only=True)
    except (FetchRefused, ProviderError) as exc:
        raise InvalidRequest(f"Could not use the image URL: {exc}", param="image") from exc


def _store_inputs(uploads: list[bytes], mask: bytes | None) -> dict:
    """Check every input image, then store them all (nothing is stored if one is refused);
    the job reads them back from storage."""
    checked = [(data, "image") for data in uploads] + ([(mask, "mask")] if mask else [])
    extensions = []
    for data, param in checked:
        try:
            extensions.append(images.check_input(data))
        except images.CorruptImage as exc:
            raise InvalidRequest(f"Invalid '{param}': {exc}.", param=param) from exc
    names = [
        images.store(data, extension=extension, folder="inputs")
        for (data, _), extension in zip(checked, extensions, strict=True)
    ]
    return {"images": names[: len(uploads)], "mask": names[len(uploads)] if mask else None}


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


def generation_quote(*, request: GenerationRequest) -> Quote:
    """Check the request against the catalog and price it; the price preview, the hold and the
    charge all come from here."""
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
    width, height = resolve_size(
        model.sizes,
        size=request.size,
        aspect_ratio=request.aspect_ratio,
        resolution=request.resolution,
    )
    routes = route_plan(model=model, mode=request.mode, width=width, height=height, n=request.n)
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
    quote = generation_quote(request=request)
    params = request.as_params() | {
        "inputs": inputs or {"images": [], "mask": None},
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
                **_started() if start else {},
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


async def generation_execute(*, generation_id) -> Generation:
    """Run a queued generation to the end; returns it finished (or as another worker left it).

    Routes are tried cheapest first, skipping providers whose circuit is open (unless none is
    left); each is retried on transient errors, honouring Retry-After, before failing over. A
    provider that says the input is bad ends the run. If the caller goes away (the task is
    cancelled) or the user cancels, the upstream jobs are cancelled and nothing is charged.
    """
    claimed = await Generation.objects.filter(
        pk=generation_id, status=Generation.Status.QUEUED
    ).aupdate(**_started())
    if not claimed:  # run, or being run, by another worker
        return await generations_answerable().aget(pk=generation_id)
    # A job that has not run yet has no images to read.
    return await _run(await generations_answerable().prefetch_related(None).aget(pk=generation_id))


async def generation_run(*, generation: Generation) -> Generation:
    """Run a generation created running (`generation_submit(start=True)`), as an API call
    does: no queue, no claim."""
    return await _run(generation)


def _started() -> dict:
    now = timezone.now()
    return {"status": Generation.Status.RUNNING, "started_at": now, "heartbeat_at": now}


async def generation_resume(*, generation_id) -> Generation:
    """Finish a running generation whose worker died, from the upstream jobs it saved: they
    were submitted (and paid for) once, so they are collected rather than submitted again."""
    generation = await generations_answerable().aget(pk=generation_id)
    if generation.status != Generation.Status.RUNNING:
        return generation
    return await _run(generation, resume=True)


async def _run(generation: Generation, *, resume: bool = False) -> Generation:
    """Run it to the end; the generation as it ended, with its images."""
    run = _Run(generation)
    try:
        return await run.go(resume=resume)
    except JobCancelled:
        return await run.cancel()
    except asyncio.CancelledError:  # the API caller went away
        await asyncio.shield(run.cancel())
        raise
    except Exception:  # a bug: end the generation and release its hold, then let it surface
        await asyncio.shield(run.cancel(error=UpstreamFailed("The gateway failed unexpectedly.")))
        raise


def generation_error(generation: Generation) -> GatewayError:
    """The API error for a failed generation, as it was recorded."""
    error_class = InvalidRequest if generation.error_code == PROVIDER_REJECTED else UpstreamFailed
    return error_class(generation.error_message)


class JobCancelled(Exception):
    """The user cancelled a running generation; raised from the progress callback."""


class _Run:
    """One execution of a generation: its attempts and the upstream jobs it started."""

    def __init__(self, generation: Generation):
        self.generation = generation
        self.attempts: list[dict] = []
        self.handles: list[tuple[dict, dict]] = []  # (route, provider handle)
        self.last_report: dict | None = None
        self.last_check = time.monotonic()

    async def go(self, *, resume: bool = False) -> Generation:
        """Try the routes; with `resume`, first collect the upstream jobs a dead worker left."""
        generation = self.generation
        error: GatewayError = UpstreamFailed("Every provider failed for this request.")
        saved = self._saved_route() if resume else None
        plan = [(saved, self._collect_saved)] if saved else []
        health = await circuit.health(route["provider"] for route in generation.routes)
        plan += [
            (route, self._produce_with_retries)
            for route in _usable_routes(generation.routes, health)
        ]
        for route, produce in plan:
            started = time.monotonic()
            try:
                stored = await produce(route)
            except ProviderError as exc:
                self.attempts.append(_attempt(route, started, status=exc.status, error=str(exc)))
                logger.warning(
                    "provider failed",
                    extra={"generation": str(generation.pk), "provider": route["provider"]},
                )
                if not exc.retryable:
                    error = InvalidRequest(
                        f"The provider rejected the request: {exc}", code=PROVIDER_REJECTED
                    )
                    break
                await circuit.record_failure(route["provider"])
                continue
            except images.CorruptImage as exc:
                self.attempts.append(_attempt(route, started, status=None, error=str(exc)))
                await circuit.record_failure(route["provider"])
                continue
            self.attempts.append(_attempt(route, started, status=200, error=""))
            if route["provider"] in health.failing:
                await circuit.record_success(route["provider"])
            return await sync_to_async(_generation_finish)(
                generation=generation, attempts=self.attempts, route=route, stored=stored
            )
        return await sync_to_async(_generation_finish)(
            generation=generation, attempts=self.attempts, error=error
        )

    def _saved_route(self) -> dict | None:
        """The route of the upstream jobs saved on the generation, if any."""
        self.attempts = list(self.generation.attempts)
        providers = {entry["provider"] for entry in self.generation.upstream}
        routes = [route for route in self.generation.routes if route["provider"] in providers]
        if not routes:
            return None
        self.handles = [(routes[0], entry["handle"]) for entry in self.generation.upstream]
        return routes[0]

    async def _collect_saved(self, route: dict) -> list[StoredImage]:
        """Wait for the upstream jobs already submitted (and paid for) instead of new ones."""
        provider = provider_for(route)
        client = client_for(provider.slug)

        async def progressed(progress: ProviderProgress) -> None:
            await self.report(progress, provider.slug)

        results = await _all_or_none(
            provider.wait(handle, client, on_progress=progressed) for _, handle in self.handles
        )
        return await self._store(results, client)

    async def _produce_with_retries(self, route: dict) -> list[StoredImage]:
        async for attempt in stamina.retry_context(
            on=_retry_backoff,
            attempts=settings.PROVIDER_ATTEMPTS,
            timeout=None,
            wait_initial=settings.PROVIDER_RETRY_WAIT_SECONDS,
            # Random spread of up to the first wait again (stamina's default is a fixed 1 s).
            wait_jitter=settings.PROVIDER_RETRY_WAIT_SECONDS,
            wait_max=MAX_RETRY_AFTER_SECONDS,
        ):
            with attempt:
                return await self._produce(route)
        raise AssertionError("unreachable: retry_context raises after the last attempt")

    async def _produce(self, route: dict) -> list[StoredImage]:
        """Ask one provider for all n images (parallel calls when it makes fewer per call)."""
        generation = self.generation
        provider = provider_for(route)
        params = generation.params
        stored_inputs = params["inputs"]
        inputs, mask = (
            await images.off_loop(_read_inputs, stored_inputs)
            if stored_inputs["images"] or stored_inputs["mask"]
            else ((), None)
        )
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

        async def submitted(handle: dict) -> None:
            self.handles.append((route, handle))
            await Generation.objects.filter(pk=generation.pk).aupdate(
                upstream=[{"provider": r["provider"], "handle": h} for r, h in self.handles]
            )

        async def progressed(progress: ProviderProgress) -> None:
            await self.report(progress, provider.slug)

        try:
            results = await _all_or_none(
                provider.generate(job, client, on_submitted=submitted, on_progress=progressed)
                for job in jobs
            )
            return await self._store(results, client)
        except (ProviderError, images.CorruptImage):
            await self.cancel_upstream()  # before a retry or the next provider
            raise

    async def _store(self, results: list[ProviderResult], client) -> list[StoredImage]:
        """Fetch the images the provider made, convert them, store them."""
        produced = [image for result in results for image in result.images][: self.generation.n]
        raw = await _all_or_none(_image_bytes(image, client) for image in produced)
        return await images.off_loop(_convert_and_store, raw, produced, self.generation.params)

    async def report(self, progress: ProviderProgress, provider: str) -> None:
        """Save what the provider reports, keep the heartbeat, and notice a cancel by the user.

        Providers report after every poll; the database is written when the report changed, and
        at most every `HEARTBEAT_SECONDS` otherwise (the sweep resumes jobs whose heartbeat
        stopped)."""
        running = Generation.objects.filter(pk=self.generation.pk, status=Generation.Status.RUNNING)
        report = asdict(progress) | {"provider": provider}
        if report != self.last_report:
            still_running = await running.aupdate(progress=report, heartbeat_at=timezone.now())
            self.last_report = report
        elif time.monotonic() - self.last_check >= HEARTBEAT_SECONDS:
            still_running = await running.aupdate(heartbeat_at=timezone.now())
        else:
            return
        self.last_check = time.monotonic()
        if not still_running:
            raise JobCancelled()

    async def cancel(self, *, error: GatewayError | None = None) -> Generation:
        """Cancel the upstream jobs and end the generation: cancelled, or failed with `error`.
        Either way nothing is charged."""
        await self.cancel_upstream()
        return await sync_to_async(_generation_finish)(
            generation=self.generation,
            attempts=self.attempts,
            error=error,
            cancelled=error is None,
        )

    async def cancel_upstream(self) -> None:
        """Ask the providers to stop the jobs this run submitted (best effort): a job given up
        on would otherwise run on, and be billed."""
        handles, self.handles = self.handles, []
        for route, handle in handles:
            provider = provider_for(route)
            try:
                await provider.cancel(handle, client_for(provider.slug))
            except ProviderError:
                logger.warning("upstream cancel failed", extra={"provider": route["provider"]})


async def _all_or_none(coroutines) -> list:
    """Run concurrently; on the first failure cancel the rest and raise that failure."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coroutine) for coroutine in coroutines]
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]


def _retry_backoff(exc: Exception) -> bool | float:
    """Whether to try the same provider again, and after how long when it said so."""
    if isinstance(exc, ProviderRateLimited) and exc.retry_after is not None:
        return exc.retry_after if exc.retry_after <= MAX_RETRY_AFTER_SECONDS else False
    return isinstance(exc, ProviderError) and exc.retryable


def _usable_routes(routes: list[dict], health: circuit.Health) -> list[dict]:
    """The routes whose provider's circuit is closed; all of them if every circuit is open."""
    closed = [route for route in routes if route["provider"] not in health.open]
    return closed or routes


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
def _generation_finish(
    *,
    generation: Generation,
    attempts: list[dict],
    route: dict | None = None,
    stored: list[StoredImage] = (),
    error: GatewayError | None = None,
    cancelled: bool = False,
) -> Generation:
    """End a running generation and settle its hold: succeeded (charged for the images),
    failed or cancelled (nothing charged). If the user cancelled while it ran, the images are
    discarded and nothing is charged. Returns the generation as it ended, with its images and
    the balance its settle left as `balance_after_micros` (None if the sweep settled it)."""
    fields = {"attempts": attempts, "finished_at": timezone.now()}
    if cancelled:
        fields |= {"status": Generation.Status.CANCELLED, "error_message": "Cancelled."}
    elif error is not None:
        fields |= {
            "status": Generation.Status.FAILED,
            "error_code": error.code or "",
            "error_message": error.message,
        }
    else:
        cost_micros = route["cost_micros"] // generation.n * len(stored)
        fields |= {
            "status": Generation.Status.SUCCEEDED,
            "provider": route["provider"],
            "cost_micros": cost_micros,
        }
    running = Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING)
    if not running.update(**fields):  # cancelled by the user meanwhile
        Generation.objects.filter(pk=generation.pk).update(
            attempts=attempts, finished_at=fields["finished_at"]
        )
        transaction.on_commit(lambda: images.delete([item.name for item in stored]))
        balance_micros = credits_settle(generation_id=generation.pk, cost_micros=0)
        generation = generations_answerable().get(pk=generation.pk)
        generation.balance_after_micros = balance_micros
        return generation
    for name, value in fields.items():
        setattr(generation, name, value)
    generation.image_list = GenerationImage.objects.bulk_create(
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
    generation.balance_after_micros = credits_settle(
        generation_id=generation.pk, cost_micros=fields.get("cost_micros", 0)
    )
    return generation


@transaction.atomic
def generation_cancel(*, generation: Generation) -> bool:
    """Cancel a queued or running generation of its owner. A queued one ends here with its hold
    released; a running one is marked, and its worker cancels upstream and releases the hold."""
    queued = Generation.objects.filter(pk=generation.pk, status=Generation.Status.QUEUED)
    if queued.update(
        status=Generation.Status.CANCELLED, error_message="Cancelled.", finished_at=timezone.now()
    ):
        credits_settle(generation_id=generation.pk, cost_micros=0)
        return True
    running = Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING)
    return bool(running.update(status=Generation.Status.CANCELLED, error_message="Cancelled."))


def generation_sweep_stale(*, older_than: timedelta = STALE_AFTER) -> tuple[list, list]:
    """Deal with generations whose job died (worker killed, server restarted).

    A running one whose heartbeat stopped and that saved its upstream jobs is handed to a new
    worker to collect them (so nothing is paid twice). Holds older than `older_than` of every
    other unfinished job are released once, and those generations marked failed. Returns the
    ids resumed and the ids released.

    The release and the marking run in separate transactions (the ledger's locks, then the
    generations'), and the marking finds its rows by their release, so a crash between them is
    repaired next time. A worker that finishes late fails its conditional update and charges
    nothing."""
    from .tasks import resume_generation  # the task module imports this one

    now = timezone.now()
    running = Generation.objects.filter(status=Generation.Status.RUNNING)
    resumed = []
    for generation_id in (
        running.filter(heartbeat_at__lt=now - DEAD_AFTER)
        .exclude(upstream=[])
        .values_list("pk", flat=True)
    ):
        # Claim it with a fresh heartbeat, so two sweeps never resume the same job.
        if Generation.objects.filter(pk=generation_id, heartbeat_at__lt=now - DEAD_AFTER).update(
            heartbeat_at=now
        ):
            resume_generation.enqueue(str(generation_id))
            resumed.append(generation_id)
    alive = running.filter(heartbeat_at__gte=now - DEAD_AFTER).values_list("pk", flat=True)
    released = credits_release_stale(held_before=now - older_than, keep=list(alive))
    Generation.objects.filter(
        status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING],
        ledger_entries__kind=LedgerEntry.Kind.RELEASE,
    ).update(
        status=Generation.Status.FAILED,
        error_code="abandoned",
        error_message="The job stopped without finishing; nothing was charged.",
        finished_at=now,
    )
    return resumed, released
