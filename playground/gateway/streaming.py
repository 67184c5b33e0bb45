"""A generation as OpenAI's Images API streams it: server-sent events.

`image_generation.partial_image` (edits: `image_edit.partial_image`) for each preview a
provider gives, up to the `partial_images` asked for; then one `.completed` event per image;
or, when the run fails after the stream began, an `error` event in OpenAI's envelope. While
the provider works, a comment line every `STREAM_KEEPALIVE_SECONDS` keeps proxies from cutting
an idle connection.

A caller that goes away before the run ends cancels it: the upstream jobs are stopped and
nothing is charged (`runner`). Images already handed over stay in the account's history.

At most one image per stream is held in memory at a time: the newest preview not yet sent
replaces an older one, and finished images are read from storage one by one.
"""

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable

from django.conf import settings

from playground.catalog.models import Mode

from . import images
from .errors import GatewayError, UpstreamFailed, generation_error
from .models import Generation
from .responses import image_facts
from .runner import Start, generation_run
from .selectors import generation_await_finished

logger = logging.getLogger(__name__)

KEEPALIVE = b": keep-alive\n\n"


async def generation_events(
    generation: Generation, *, created: bool, partial_images: int
) -> AsyncIterator[bytes]:
    """The event stream of `generation`: run here when this call `created` it, else awaited
    (an Idempotency-Key repeated while the first call runs)."""
    prefix = "image_edit" if generation.mode == Mode.EDIT else "image_generation"
    previews = _Latest()
    if created:
        ending: Awaitable = _run(generation, partial_images, previews.put)
    else:
        ending = generation_await_finished(pk=generation.pk)
    run = asyncio.ensure_future(ending)
    try:
        sent = 0
        while not run.done():
            preview = await previews.next(until=run, timeout=settings.STREAM_KEEPALIVE_SECONDS)
            if preview is None:
                if not run.done():
                    yield KEEPALIVE
                continue
            if sent < partial_images:
                yield await _partial(generation, preview, prefix=prefix, index=sent)
                sent += 1
        try:
            generation = run.result()
        except Exception:
            logger.exception("stream failed", extra={"generation": str(generation.pk)})
            yield _error(UpstreamFailed("The gateway failed unexpectedly."))
            return
        if generation.status != Generation.Status.SUCCEEDED:
            yield _error(
                generation_error(
                    code=generation.error_code,
                    message=generation.error_message,
                    param=generation.error_param,
                )
            )
            return
        for image in generation.image_list:
            data = await images.off_loop(images.read, image.file.name)
            yield _event(
                f"{prefix}.completed",
                {"b64_json": base64.b64encode(data).decode()}
                | image_facts(generation, size=(image.width, image.height)),
            )
    finally:
        if not run.done():  # the caller went away: stop the run, which releases the hold
            run.cancel()
            await asyncio.wait([run])


async def _run(generation: Generation, partial_images: int, on_preview) -> Generation:
    outcome = await generation_run(
        generation, start=Start.CREATED, previews=partial_images, on_preview=on_preview
    )
    return outcome.generation


class _Latest:
    """The newest preview not yet sent: a newer one replaces it."""

    def __init__(self):
        self.preview: bytes | None = None
        self.arrived = asyncio.Event()

    async def put(self, preview: bytes) -> None:
        self.preview = preview
        self.arrived.set()

    async def next(self, *, until: asyncio.Future, timeout: float) -> bytes | None:
        """The next preview; None when `until` is done or `timeout` passed first."""
        waiting = asyncio.ensure_future(self.arrived.wait())
        try:
            await asyncio.wait(
                [waiting, until], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiting.cancel()
        if not self.arrived.is_set():
            return None
        self.arrived.clear()
        preview, self.preview = self.preview, None
        return preview


async def _partial(generation: Generation, preview: bytes, *, prefix: str, index: int) -> bytes:
    params = generation.params
    encoded = await images.off_loop(
        lambda: images.encode(
            preview,
            output_format=params["output_format"],
            compression=params["output_compression"],
        )
    )
    return _event(
        f"{prefix}.partial_image",
        {"b64_json": base64.b64encode(encoded.data).decode(), "partial_image_index": index}
        | image_facts(generation, size=(encoded.width, encoded.height)),
    )


def _error(error: GatewayError) -> bytes:
    return _event("error", error.envelope())


def _event(kind: str, data: dict) -> bytes:
    data = {"type": kind, **data, "created_at": int(time.time())}
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode()
