"""Running a generation to its end: retries, failover, circuits, the heartbeat and cancelling.

`generation_run` is the one entry point, for the three ways a run starts (`Start`). The images
made are stored and the hold settled: what they cost is captured, the rest released. A failure,
a cancel by the user or a caller that went away releases everything, after the upstream jobs
were asked to stop.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from uuid import UUID

import stamina
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from playground.accounts.services import credits_settle
from playground.billing.services import thresholds_after_charge
from playground.providers.base import (
    Behaviour,
    Provider,
    ProviderError,
    ProviderFlagged,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderRateLimited,
    ProviderRejected,
    ProviderResult,
)
from playground.providers.clients import client_for
from playground.providers.registry import foreign_flags

from . import circuit, images
from .errors import FLAGGED, PROVIDER_REJECTED, GatewayError, InvalidRequest, UpstreamFailed
from .fetch import FetchRefused, fetch_bytes
from .models import Generation, GenerationImage
from .router import Route, provider_for
from .schemas import MAX_SEED
from .selectors import generations_answerable

logger = logging.getLogger(__name__)

MAX_RESULT_BYTES = 64 * 1024 * 1024
MAX_RETRY_AFTER_SECONDS = 30.0
HEARTBEAT_SECONDS = 2.0  # also how soon a running job notices the user's cancel


class Start(StrEnum):
    QUEUED = "queued"  # a queued job: claim it, unless another worker has
    CREATED = "created"  # created running by the caller, who waits for it (an API call)
    RESUMED = "resumed"  # running, but its worker died: collect the upstream jobs it saved


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """A run's end: the generation as it ended (with its images as `image_list`), and the
    balance its settle left (None when this run did not settle it)."""

    generation: Generation
    balance_micros: int | None


PreviewCallback = Callable[[bytes], Awaitable[None]]


async def generation_run(
    generation: Generation | UUID,
    *,
    start: Start,
    previews: int = 0,
    on_preview: PreviewCallback | None = None,
) -> Outcome:
    """Run a generation to its end: the one the caller just created (`Start.CREATED`), or the
    one with this id. One that another worker claimed, or that has ended, comes back as it is;
    one whose user asked to stop is stopped.

    A caller that streams the run asks for up to `previews` in-progress pictures, handed to
    `on_preview` as the providers give them."""
    if start is Start.CREATED:
        return await _Run(generation, previews=previews, on_preview=on_preview).run(resume=False)
    if start is Start.QUEUED:
        claimed = await Generation.objects.filter(
            pk=generation, status=Generation.Status.QUEUED
        ).aupdate(**started())
        if not claimed:
            return await _as_it_is(generation)
    # A job that has not produced yet has no images to read.
    generation = await generations_answerable().prefetch_related(None).aget(pk=generation)
    if generation.status not in Generation.UNDER_WAY:
        return await _as_it_is(generation.pk)
    run = _Run(generation)
    if generation.status == Generation.Status.CANCELLING:  # its worker died while stopping
        run.restore_saved()
        return await run.cancel()
    return await run.run(resume=start is Start.RESUMED)


def started() -> dict:
    """The fields of a generation that starts running now."""
    now = timezone.now()
    return {"status": Generation.Status.RUNNING, "started_at": now, "heartbeat_at": now}


async def _as_it_is(generation_id: UUID) -> Outcome:
    generation = await generations_answerable().aget(pk=generation_id)
    return Outcome(generation=generation, balance_micros=None)


class JobCancelled(Exception):
    """The user asked to stop a running generation; raised from the progress callback."""


class _Run:
    """One execution of a generation: its attempts and the upstream jobs it started."""

    def __init__(
        self,
        generation: Generation,
        *,
        previews: int = 0,
        on_preview: PreviewCallback | None = None,
    ):
        self.generation = generation
        self.previews = previews if on_preview is not None else 0
        self.on_preview = on_preview
        # Routes planned before they carried their fit: the generation's size and parameters.
        params = generation.params
        planned = {
            "width": generation.width,
            "height": generation.height,
            "params": {"negative_prompt": params.get("negative_prompt", "")} | params["extra"],
        }
        self.routes = [Route(**planned | route) for route in generation.routes]
        self.attempts: list[dict] = list(generation.attempts)  # a resumed run adds to them
        self.handles: list[tuple[Route, dict]] = []  # upstream jobs: (route, provider handle)
        self.last_report: dict | None = None
        self.last_check = time.monotonic()

    async def run(self, *, resume: bool) -> Outcome:
        try:
            return await self.go(resume=resume)
        except JobCancelled:
            return await self.cancel()
        except asyncio.CancelledError:  # the API caller went away
            await asyncio.shield(self.cancel())
            raise
        except Exception:  # a bug: end the generation and release its hold, then let it surface
            failed = UpstreamFailed("The gateway failed unexpectedly.")
            await asyncio.shield(self.cancel(error=failed))
            raise

    async def go(self, *, resume: bool) -> Outcome:
        """Try the routes in order, skipping open circuits (unless all are); each retried on
        transient errors before failing over. A provider's refusal of the input fails over too:
        only when every provider refused does the caller hear the first refusal. A safety
        filter that withheld every image ends the run. With `resume`, first collect the
        upstream jobs a dead worker left."""
        saved = self.restore_saved() if resume else None
        plan = [(saved, self._collect_saved)] if saved else []
        health = await circuit.health(route.provider for route in self.routes)
        plan += [(route, self._produce_with_retries) for route in _usable(self.routes, health)]
        refusals: list[ProviderRejected] = []
        for route, produce in plan:
            started_at = time.monotonic()
            try:
                stored = await produce(route)
            except ProviderError as exc:
                self.attempts.append(_attempt(route, started_at, status=exc.status, error=str(exc)))
                logger.warning(
                    "provider failed",
                    extra={"generation": str(self.generation.pk), "provider": route.provider},
                )
                if isinstance(exc, ProviderFlagged):
                    return await self._finish(error=InvalidRequest(str(exc), code=FLAGGED))
                if isinstance(exc, ProviderRejected):
                    refusals.append(exc)
                else:
                    await circuit.record_failure(route.provider)
                continue
            except images.CorruptImage as exc:
                self.attempts.append(_attempt(route, started_at, status=None, error=str(exc)))
                await circuit.record_failure(route.provider)
                continue
            self.attempts.append(_attempt(route, started_at, status=200, error=""))
            if route.provider in health.failing:
                await circuit.record_success(route.provider)
            return await self._finish(route=route, stored=stored)
        if refusals and len(refusals) == len(plan):
            first = refusals[0]
            return await self._finish(
                error=InvalidRequest(
                    f"The provider rejected the request: {first}",
                    param=first.param,
                    code=PROVIDER_REJECTED,
                )
            )
        return await self._finish(error=UpstreamFailed("Every provider failed for this request."))

    def restore_saved(self) -> Route | None:
        """The route of the upstream jobs saved on the generation, if any, with their handles."""
        providers = {entry["provider"] for entry in self.generation.upstream}
        routes = [route for route in self.routes if route.provider in providers]
        if not routes:
            return None
        self.handles = [(routes[0], entry["handle"]) for entry in self.generation.upstream]
        return routes[0]

    async def _collect_saved(self, route: Route) -> list[images.StoredImage]:
        """Wait for the upstream jobs already submitted (and paid for) instead of new ones."""
        provider = provider_for(route)
        client = client_for(provider.slug)

        async def progressed(progress: ProviderProgress) -> None:
            await self.report(progress, provider)

        results = await _all_or_none(
            provider.wait(handle, client, on_progress=progressed) for _, handle in self.handles
        )
        return await self._store(results, client, route)

    async def _produce_with_retries(self, route: Route) -> list[images.StoredImage]:
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

    async def _produce(self, route: Route) -> list[images.StoredImage]:
        """Ask one provider for all n images (parallel calls when it makes fewer per call)."""
        generation = self.generation
        provider = provider_for(route)
        params = generation.params
        stored_inputs = params["inputs"]
        inputs, mask = (
            await images.off_loop(images.read_inputs, stored_inputs)
            if stored_inputs["images"] or stored_inputs["mask"]
            else ((), None)
        )
        dropped = foreign_flags(provider.slug)
        sent = {name: value for name, value in route.params.items() if name not in dropped}
        negative_prompt = sent.pop("negative_prompt", "")
        per_call = provider.max_images_per_call
        jobs = [
            ProviderJob(
                model_id=route.provider_model_id,
                prompt=generation.prompt,
                negative_prompt=negative_prompt,
                width=route.width,
                height=route.height,
                size_name=route.size_name,
                image_list=route.image_list,
                seed=(generation.seed + first) % (MAX_SEED + 1),
                n=min(per_call, generation.n - first),
                images=inputs,
                mask=None if _gateway_masks(provider) else mask,
                output_format=params["output_format"],
                params=sent,
                previews=self.previews,
            )
            for first in range(0, generation.n, per_call)
        ]
        client = client_for(provider.slug)

        async def submitted(handle: dict) -> None:
            self.handles.append((route, handle))
            await Generation.objects.filter(pk=generation.pk).aupdate(
                upstream=[{"provider": r.provider, "handle": h} for r, h in self.handles]
            )

        async def progressed(progress: ProviderProgress) -> None:
            await self.report(progress, provider)

        try:
            results = await _all_or_none(
                provider.generate(job, client, on_submitted=submitted, on_progress=progressed)
                for job in jobs
            )
            return await self._store(results, client, route)
        except (ProviderError, images.CorruptImage):
            await self.cancel_upstream()  # before a retry or the next provider
            raise

    async def _store(
        self, results: list[ProviderResult], client, route: Route
    ) -> list[images.StoredImage]:
        """Fetch the images the provider made, except those its safety filter withheld,
        convert them (shrunk to the pixels asked for, when the route says so; composited into
        the first input through the mask, when the gateway applies it) and store them."""
        made = [image for result in results for image in result.images][: self.generation.n]
        produced = [image for image in made if not image.flagged]
        if not produced:
            raise ProviderFlagged(
                "The provider's safety filter withheld every image; nothing was charged."
            )
        raw = await _all_or_none(_image_bytes(image, client) for image in produced)
        params = self.generation.params
        if params["extra"].get("background") == "transparent":
            for data in raw:  # never hand back an opaque image for a transparent one
                if not await images.off_loop(images.has_alpha, data):
                    raise images.CorruptImage("the provider made an opaque image")
        return await images.off_loop(
            images.convert_and_store,
            [(data, image.seed) for data, image in zip(raw, produced, strict=True)],
            params["output_format"],
            params["output_compression"],
            tuple(route.resize) if route.resize else None,
            self._masked(provider_for(route)),
        )

    def _masked(self, provider: Provider) -> tuple[str, str] | None:
        """The storage names of the first input image and its mask, when the gateway applies
        the mask itself for `provider` (which emulates `mask`); else None."""
        inputs = self.generation.params["inputs"]
        if inputs["mask"] and _gateway_masks(provider):
            return inputs["images"][0], inputs["mask"]
        return None

    async def report(self, progress: ProviderProgress, provider: Provider) -> None:
        """Save what the provider reports, keep the heartbeat, and notice a stop by the user.

        Providers report after every poll; the database is written when the report changed, and
        at most every `HEARTBEAT_SECONDS` otherwise (the sweep resumes jobs whose heartbeat
        stopped). A preview goes to the caller who streams the run, not to the database, as
        the image will be handed back: composited through the mask where the gateway applies
        it."""
        report = asdict(progress) | {"provider": provider.slug}
        if (preview := report.pop("preview")) is not None and self.on_preview is not None:
            masked = self._masked(provider)
            if masked is not None:
                preview = await images.off_loop(lambda: images.compositor(masked)(preview))
            await self.on_preview(preview)
        running = Generation.objects.filter(pk=self.generation.pk, status=Generation.Status.RUNNING)
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

    async def cancel(self, *, error: GatewayError | None = None) -> Outcome:
        """Stop the upstream jobs and end the generation: cancelled, or failed with `error`.
        Either way nothing is charged."""
        await self.cancel_upstream()
        return await self._finish(error=error, cancelled=error is None)

    async def cancel_upstream(self) -> None:
        """Ask the providers to stop the jobs this run submitted (best effort): a job given up
        on would otherwise run on, and be billed."""
        handles, self.handles = self.handles, []
        for route, handle in handles:
            provider = provider_for(route)
            try:
                await provider.cancel(handle, client_for(provider.slug))
            except ProviderError:
                logger.warning("upstream cancel failed", extra={"provider": route.provider})

    async def _finish(self, **ending) -> Outcome:
        return await sync_to_async(_generation_finish)(
            generation=self.generation, attempts=self.attempts, **ending
        )


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


def _gateway_masks(provider: Provider) -> bool:
    """Whether the gateway applies an edit's mask itself, as the provider's parameter table
    says (it emulates `mask`), instead of sending it."""
    param = provider.parameters.get("mask")
    return param is not None and param.behaviour == Behaviour.EMULATED


def _usable(routes: list[Route], health: circuit.Health) -> list[Route]:
    """The routes whose provider's circuit is closed; all of them if every circuit is open."""
    closed = [route for route in routes if route.provider not in health.open]
    return closed or routes


async def _image_bytes(image: ProviderImage, client) -> bytes:
    if image.data is not None:
        return image.data
    try:
        return await fetch_bytes(image.url or "", client, max_bytes=MAX_RESULT_BYTES)
    except FetchRefused as exc:
        raise images.CorruptImage(f"the provider's result could not be fetched: {exc}") from exc


def _attempt(route: Route, started_at: float, *, status: int | None, error: str) -> dict:
    return {
        "provider": route.provider,
        "status": status,
        "latency_ms": round((time.monotonic() - started_at) * 1000),
        "error": error,
    }


@transaction.atomic
def _generation_finish(
    *,
    generation: Generation,
    attempts: list[dict],
    route: Route | None = None,
    stored: list[images.StoredImage] = (),
    error: GatewayError | None = None,
    cancelled: bool = False,
) -> Outcome:
    """End a running generation and settle its hold: succeeded (charged for the images) or
    failed (nothing charged). One the user asked to stop, or that this run gave up, ends
    cancelled: its images are discarded and nothing is charged."""
    ended = {"attempts": attempts, "finished_at": timezone.now()}
    if cancelled:
        fields = None
    elif error is not None:
        fields = ended | {
            "status": Generation.Status.FAILED,
            "error_code": error.code or "",
            "error_param": error.param or "",
            "error_message": error.message,
        }
    else:
        first = stored[0].image
        fields = ended | {
            "status": Generation.Status.SUCCEEDED,
            "provider": route.provider,
            "cost_micros": route.cost_micros // generation.n * len(stored),
            # The pixels handed back, which the answer, the history and the usage page show.
            "width": first.width,
            "height": first.height,
            "mapped": route.mapped,
        }
    running = Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING)
    if fields is None or not running.update(**fields):  # asked to stop, meanwhile or by this run
        Generation.objects.filter(pk=generation.pk, status__in=Generation.UNDER_WAY).update(
            **ended, **Generation.cancelled()
        )
        transaction.on_commit(lambda: images.delete([item.name for item in stored]))
        balance_micros = credits_settle(generation_id=generation.pk, cost_micros=0)
        generation = generations_answerable().get(pk=generation.pk)
        return Outcome(generation=generation, balance_micros=balance_micros)
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
    balance_micros = credits_settle(
        generation_id=generation.pk, cost_micros=fields.get("cost_micros", 0)
    )
    if generation.cost_micros and balance_micros is not None:
        thresholds_after_charge(user_id=generation.user_id, balance_micros=balance_micros)
    return Outcome(generation=generation, balance_micros=balance_micros)
