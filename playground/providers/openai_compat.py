"""Any OpenAI-compatible images API: one synchronous call, JSON for generations and multipart for
edits, asking for `b64_json` (an upstream that answers with URLs is fine too). A job that asks
for previews is streamed, as OpenAI streams images: its partial images are passed on as they
come."""

import base64
import binascii
import json
from typing import Any, ClassVar

import httpx

from ._http import HttpProvider, image_type
from .base import (
    Behaviour,
    HandleCallback,
    Param,
    ProgressCallback,
    ProgressStatus,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderResult,
    ProviderUnavailable,
)

OUTPUT_FORMATS = ("png", "jpeg", "webp")
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


class OpenAIProvider(HttpProvider):
    slug = "openai"
    label = "OpenAI-compatible upstream"
    key_env = "OPENAI_UPSTREAM_API_KEY"
    base_url_env = "OPENAI_UPSTREAM_BASE_URL"
    default_base_url = "https://api.openai.com/v1"
    max_images_per_call = 10
    serves_every_model = True

    parameters: ClassVar[dict[str, Param]] = {
        "prompt": Param(Behaviour.PASSTHROUGH),
        "negative_prompt": Param(Behaviour.PASSTHROUGH, note="an extension OpenAI lacks"),
        "size": Param(Behaviour.CONVERTED, "size", "sent as WxH"),
        "seed": Param(Behaviour.PASSTHROUGH, note="an extension OpenAI lacks"),
        "n": Param(Behaviour.PASSTHROUGH, note="up to 10 per call"),
        "image": Param(
            Behaviour.CONVERTED, "image[]", "multipart files: image for one, image[] for several"
        ),
        "mask": Param(Behaviour.CONVERTED, "mask", "a multipart file"),
        "output_format": Param(
            Behaviour.CONVERTED,
            "output_format",
            "png, jpeg and webp natively; other formats are converted from png by the gateway",
        ),
        "response_format": Param(
            Behaviour.EMULATED, note="b64_json is always asked for; the gateway serves the images"
        ),
        "cfg_scale": Param(Behaviour.PASSTHROUGH, note="an extension OpenAI lacks"),
        "strength": Param(Behaviour.PASSTHROUGH, note="an extension OpenAI lacks"),
        "num_inference_steps": Param(Behaviour.PASSTHROUGH, note="an extension OpenAI lacks"),
        "partial_images": Param(
            Behaviour.PASSTHROUGH, note="with stream: its partial images are passed on"
        ),
        "background": Param(Behaviour.PASSTHROUGH, note="transparent needs png or webp"),
        "quality": Param(Behaviour.PASSTHROUGH),
    }

    async def generate(
        self,
        job: ProviderJob,
        client: httpx.AsyncClient,
        *,
        on_submitted: HandleCallback | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ProviderResult:
        fields = self.translate(
            self.public_values(job),
            {
                "size": lambda size: f"{size[0]}x{size[1]}",
                "output_format": lambda fmt: fmt if fmt in OUTPUT_FORMATS else "png",
            },
        )
        fields |= {"model": job.model_id, "response_format": "b64_json"}
        if job.previews and on_progress is not None:
            fields |= {"stream": True, "partial_images": job.previews}
        if job.images:
            url = f"{self.base_url}/images/edits"
            body = {
                "data": {name: _form_value(value) for name, value in fields.items()},
                "files": _files(job),
            }
        else:
            url, body = f"{self.base_url}/images/generations", {"json": fields}
        if "stream" in fields:
            return await self._streamed(client, url, body, job.seed, on_progress)
        answer = await self.call(client, "POST", url, **body)
        return self.result(
            [self._image(item, job.seed) for item in self.field(answer, "data", kind=list)],
            request_id="",
        )

    async def _streamed(
        self,
        client: httpx.AsyncClient,
        url: str,
        body: dict,
        seed: int,
        on_progress: ProgressCallback,
    ) -> ProviderResult:
        """The images of a streamed call; each partial image goes to `on_progress`."""
        images = []
        async for name, data in self.events(client, "POST", url, **body):
            kind = data.get("type", name) if isinstance(data, dict) else name
            if kind.endswith(".partial_image"):
                preview = self._image(data, seed).data
                await on_progress(ProviderProgress(status=ProgressStatus.RUNNING, preview=preview))
            elif kind.endswith(".completed"):
                images.append(self._image(data, seed))
            elif kind == "error":
                raise ProviderUnavailable(
                    f"{self.label} failed while streaming: {self.reason(data)}"
                )
        return self.result(images, request_id="")

    def _image(self, item: Any, seed: int) -> ProviderImage:
        if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
            try:
                data = base64.b64decode(item["b64_json"], validate=True)
            except binascii.Error as exc:
                raise ProviderUnavailable(f"{self.label} sent an image that is not base64") from exc
            return ProviderImage(data=data, seed=seed)
        return ProviderImage(url=self.field(item, "url", kind=str), seed=seed)


def _form_value(value: Any) -> str:
    """A JSON value as a multipart text field, the way the OpenAI SDK writes them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value)


def _files(job: ProviderJob) -> list[tuple[str, tuple[str, bytes, str]]]:
    name = "image" if len(job.images) == 1 else "image[]"
    images = [(name, f"image-{index}", data) for index, data in enumerate(job.images)]
    masks = [("mask", "mask", job.mask)] if job.mask else []
    files = []
    for field, stem, data in images + masks:
        mime = image_type(data)
        files.append((field, (f"{stem}.{EXTENSIONS.get(mime, 'png')}", data, mime)))
    return files
