"""What the HTTP adapters share: authenticated JSON calls, the one error mapping, and polling.

Every failure leaves here as a `ProviderError`: connection errors, timeouts, 5xx, 401/403 (a
misconfigured key), malformed JSON and missing fields are `ProviderUnavailable`; 429 is
`ProviderRateLimited` with `retry_after`; 400/422 are `ProviderRejected` with the provider's reason.
The API key is never part of a message, even when a provider echoes it back.

Input images go inline as data URIs up to the adapter's `inline_max_bytes`; larger ones go
through its `upload` to the provider's storage, and the input names them by URL.
"""

import asyncio
import base64
import contextlib
import email.utils
import io
import json
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from PIL import Image, UnidentifiedImageError

from .base import (
    ProgressCallback,
    Provider,
    ProviderError,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderRateLimited,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
)

MAX_REASON_CHARS = 300
REJECTED_STATUSES = frozenset({400, 422})

Step = Callable[[], Awaitable[ProviderResult | ProviderProgress]]


class HttpProvider(Provider):
    """An adapter that talks JSON over HTTP with a key in the `Authorization` header."""

    auth_scheme: ClassVar[str] = "Bearer"
    poll_interval: ClassVar[float] = 1.0  # seconds between two status calls
    max_wait: ClassVar[float] = 600.0  # seconds a job may take before we give up on it
    # Input images larger than this many bytes go through `upload`; None sends every image inline.
    inline_max_bytes: ClassVar[int | None] = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_url}>"

    async def call(
        self, client: httpx.AsyncClient, method: str, url: str | httpx.URL, **request: Any
    ) -> Any:
        """The parsed JSON answer of one authenticated call (`send`); anything else raises."""
        response, body = await self.send(client, method, url, **request)
        if body is None:
            raise ProviderUnavailable(
                f"{self.label} sent an answer that is not JSON", status=response.status_code
            )
        return body

    async def send(
        self,
        client: httpx.AsyncClient,
        method: str,
        url: str | httpx.URL,
        *,
        ok: Iterable[int] = (200, 201, 202),
        headers: Mapping[str, str] | None = None,
        is_authenticated: bool = True,
        **request: Any,
    ) -> tuple[httpx.Response, Any]:
        """One call and its JSON body (None when it has none); a failed call raises.

        `is_authenticated=False` sends no key, for URLs that carry their own signature (a
        storage upload URL), so the key never reaches a host other than the provider's API."""
        auth = self._auth() if is_authenticated else {}
        # Each read has the client's timeout, and so has the whole answer: a provider that
        # drips its answer a byte at a time must not hold the job for as long as it likes.
        with self._reaching():
            async with asyncio.timeout(client.timeout.read):
                response = await client.request(
                    method, url, headers={**auth, **(headers or {})}, **request
                )
        body = _json_or_none(response)
        if response.status_code not in ok:
            if not is_authenticated and response.status_code in (401, 403):
                raise ProviderUnavailable(
                    f"{self.label} refused its own signed URL", status=response.status_code
                )
            raise self.error(response.status_code, body, response.headers)
        return response, body

    async def events(
        self, client: httpx.AsyncClient, method: str, url: str, **request: Any
    ) -> AsyncIterator[tuple[str, Any]]:
        """The server-sent events of one authenticated streaming call, as (event name, parsed
        data), as they come; each read has the client's timeout. A call refused before the
        stream starts raises as in `send`."""
        headers = self._auth() | {"Accept": "text/event-stream"}
        with self._reaching():
            async with client.stream(method, url, headers=headers, **request) as response:
                if response.status_code != 200:
                    await response.aread()
                    body = _json_or_none(response)
                    raise self.error(response.status_code, body, response.headers)
                name, data = "", []
                async for line in response.aiter_lines():
                    if line.startswith("event:"):
                        name = line.removeprefix("event:").strip()
                    elif line.startswith("data:"):
                        data.append(line.removeprefix("data:").strip())
                    elif not line and data:
                        try:
                            parsed = json.loads("\n".join(data))
                        except ValueError as exc:
                            raise ProviderUnavailable(
                                f"{self.label} sent an event that is not JSON"
                            ) from exc
                        yield name, parsed
                        name, data = "", []

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"{self.auth_scheme} {self.api_key}"}

    @contextlib.contextmanager
    def _reaching(self) -> Iterator[None]:
        """Transport failures of a call, as `ProviderUnavailable`."""
        try:
            yield
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise ProviderUnavailable(f"{self.label} did not answer in time") from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise ProviderUnavailable(
                f"{self.label} could not be reached ({type(exc).__name__})"
            ) from exc

    def error(self, status: int, body: Any, headers: Mapping[str, str]) -> ProviderError:
        """The error for a failed call: `status` from HTTP (or from the body, for APIs that
        wrap errors in a 200), `body` the parsed JSON or None."""
        if status in (401, 403):
            return ProviderUnavailable(f"{self.label} refused the configured key", status=status)
        reason = self.reason(body)
        message = f"{self.label} answered {status}" + (f": {reason}" if reason else "")
        if status == 429:
            return ProviderRateLimited(message, retry_after=retry_after(headers, body))
        if status in REJECTED_STATUSES:
            field = error_field(body)
            return ProviderRejected(
                message, status=status, param=self.public_name(field) if field else None
            )
        return ProviderUnavailable(message, status=status)

    def public_name(self, field: str) -> str:
        """The public name of one of the provider's input fields (`cfg_scale` for fal's
        `guidance_scale`)."""
        return next(
            (name for name, param in self.parameters.items() if param.target == field), field
        )

    def reason(self, body: Any) -> str:
        """The provider's explanation in an error body, without the key if it was echoed."""
        reason = error_reason(body)
        return reason.replace(self.api_key, "[redacted]") if self.api_key else reason

    def field(self, data: Any, *path: str | int, kind: type = object) -> Any:
        """`data[path[0]][path[1]]...`, which must be a `kind`; a malformed answer raises."""
        value = data
        for key in path:
            try:
                value = value[key]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        if value is None or not isinstance(value, kind):
            name = ".".join(map(str, path))
            raise ProviderUnavailable(f"{self.label} sent an answer without a valid {name}")
        return value

    def result(self, images: list[ProviderImage], *, request_id: str) -> ProviderResult:
        if not images:
            raise ProviderUnavailable(f"{self.label} finished the job without any image")
        return ProviderResult(images=images, request_id=request_id)

    async def poll(self, step: Step, on_progress: ProgressCallback | None) -> ProviderResult:
        """Call `step` every `poll_interval` until it gives a result, reporting progress after
        every poll (the gateway also learns there whether the job was cancelled); a job still
        unfinished after `max_wait` raises."""
        deadline = time.monotonic() + self.max_wait
        while True:
            outcome = await step()
            if isinstance(outcome, ProviderResult):
                return outcome
            if on_progress is not None:
                await on_progress(outcome)
            if time.monotonic() >= deadline:
                raise ProviderUnavailable(
                    f"{self.label} did not finish the job within {self.max_wait:g} s"
                )
            await asyncio.sleep(self.poll_interval)

    async def image_refs(self, images: Iterable[bytes], client: httpx.AsyncClient) -> list[str]:
        """What the provider is sent for each input image, in order: a data URI, or for an image
        larger than `inline_max_bytes` the URL `upload` gives it. Uploads run at once; when one
        fails, the others are cancelled and its error is raised."""

        async def ref(image: bytes) -> str:
            if self.inline_max_bytes is None or len(image) <= self.inline_max_bytes:
                return data_uri(image)
            return await self.upload(image, client)

        tasks = [asyncio.ensure_future(ref(image)) for image in images]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            raise

    async def upload(self, image: bytes, client: httpx.AsyncClient) -> str:
        """Put one input image in the provider's storage and give the URL that names it in an
        input; adapters that set `inline_max_bytes` implement it."""
        raise NotImplementedError

    @staticmethod
    def public_values(job: ProviderJob) -> dict[str, Any]:
        """The job's parameters by public name, as `translate` takes them (None = not set)."""
        return {
            "prompt": job.prompt,
            "negative_prompt": job.negative_prompt or None,
            "size": (job.width, job.height),
            "seed": job.seed,
            "n": job.n,
            "image": job.images or None,
            "mask": job.mask,
            "output_format": job.output_format,
            **job.params,
        }


def error_reason(body: Any) -> str:
    """The provider's own words for an error, from any of the shapes our providers use:
    OpenAI's `{"error": {"message"}}`, FastAPI's `{"detail": str | [{"loc", "msg"}]}`, RFC 7807's
    `{"title", "detail"}` and `{"code", "message"}`."""
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        body = error
    detail = body.get("detail")
    if isinstance(detail, list):
        reason = "; ".join(
            f"{'.'.join(map(str, item.get('loc', ())))}: {item.get('msg', '')}"
            for item in detail
            if isinstance(item, dict)
        )
    else:
        reason = next(
            (body[key] for key in ("message", "detail", "error", "title") if body.get(key)), ""
        )
    return str(reason)[:MAX_REASON_CHARS]


def error_field(body: Any) -> str | None:
    """The first input field a validation error names, from FastAPI's `{"detail": [{"loc":
    ["body", name]}]}` (fal) or Replicate's `{"invalid_fields": [{"field": "input.name"}]}`;
    entries about the whole body (`["body"]`, `"input"`) name none."""
    if not isinstance(body, dict):
        return None
    detail, invalid = body.get("detail"), body.get("invalid_fields")
    entries = [entry for entry in (detail, invalid) if isinstance(entry, list)]
    for entry in entries[0] if entries else ():
        if not isinstance(entry, dict):
            continue
        loc, field = entry.get("loc"), str(entry.get("field", ""))
        if isinstance(loc, list) and len(loc) > 1:
            return str(loc[-1])
        if field.startswith("input."):
            return field.removeprefix("input.")
    return None


def retry_after(headers: Mapping[str, str], body: Any) -> float | None:
    """Seconds to wait, from `Retry-After` (seconds or an HTTP date) or a `retry_after` field."""
    value = headers.get("retry-after")
    if value is None and isinstance(body, dict):
        value = body.get("retry_after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        try:
            when = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0) if math.isfinite(seconds) else None


def image_type(data: bytes) -> str:
    """The MIME type of an input image; bytes that are no image are refused."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            mime = image.get_format_mimetype()
    except (UnidentifiedImageError, OSError) as exc:
        raise ProviderRejected("An input image is not a readable picture.") from exc
    return mime or "application/octet-stream"


def data_uri(data: bytes) -> str:
    return f"data:{image_type(data)};base64,{base64.b64encode(data).decode()}"


def file_name(mime: str) -> str:
    """A name for an uploaded input image of this MIME type (input.png, input.jpeg, ...)."""
    subtype = mime.partition("/")[2].split(";")[0].split("+")[0]
    return f"input.{subtype or 'bin'}"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None
