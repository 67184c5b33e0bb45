"""Replicate's predictions API, on the official-model route (no version pinned).

The create call asks Replicate to hold the answer for a few seconds (`Prefer: wait=N`), so fast
models finish in one round trip; otherwise `urls.get` is polled until a terminal status.

Input images over 256 KiB are uploaded first (`POST /v1/files`, multipart field `content`) and
sent as the file's `urls.get`; smaller ones go inline as data URIs, as Replicate's HTTP API
reference advises ("Use a data URL when you have a small file <= 256kb").
"""

from typing import Any, ClassVar

import httpx

from ._http import HttpProvider, file_name, image_type
from .base import (
    WITHOUT_PREVIEWS_OR_ALPHA,
    Behaviour,
    Param,
    ProgressCallback,
    ProgressStatus,
    ProviderFlagged,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderResult,
    ProviderUnavailable,
)

CUSTOM = "custom"  # the aspect_ratio that takes exact width and height
OUTPUT_FORMATS = {"png": "png", "jpeg": "jpg", "webp": "webp"}
TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})


class ReplicateProvider(HttpProvider):
    slug = "replicate"
    label = "Replicate"
    key_env = "REPLICATE_API_TOKEN"
    base_url_env = "REPLICATE_BASE_URL"
    default_base_url = "https://api.replicate.com"
    poll_interval = 0.5
    prefer_wait: ClassVar[int] = 5  # seconds Replicate may hold the create call (1..60)
    inline_max_bytes = 256 * 1024

    parameters: ClassVar[dict[str, Param]] = {
        "prompt": Param(Behaviour.PASSTHROUGH),
        "negative_prompt": Param(Behaviour.PASSTHROUGH),
        "size": Param(
            Behaviour.CONVERTED,
            "aspect_ratio",
            "one of the model's ratios, or aspect_ratio=custom with width and height where the "
            "model takes them",
        ),
        "seed": Param(Behaviour.PASSTHROUGH),
        "image": Param(
            Behaviour.CONVERTED,
            "image",
            "data URIs up to 256 KiB, larger images uploaded to Replicate's files API and sent "
            "by URL; a list where the model takes several",
        ),
        "mask": Param(
            Behaviour.EMULATED,
            note="the gateway composites the edit into the input through the mask",
        ),
        "output_format": Param(
            Behaviour.CONVERTED,
            "output_format",
            "webp, jpg and png natively; other formats are converted from png by the gateway",
        ),
        "cfg_scale": Param(Behaviour.RENAMED, "guidance"),
        "strength": Param(Behaviour.PASSTHROUGH),
        "num_inference_steps": Param(Behaviour.PASSTHROUGH),
        "go_fast": Param(Behaviour.PASSTHROUGH),
        "disable_safety_checker": Param(Behaviour.PASSTHROUGH),
        "output_quality": Param(Behaviour.PASSTHROUGH, note="0-100, for jpg and webp"),
        **WITHOUT_PREVIEWS_OR_ALPHA,
    }

    async def submit(self, job: ProviderJob, client: httpx.AsyncClient) -> dict[str, Any]:
        refs = await self.image_refs(job.images, client)
        body = self.translate(
            self.public_values(job),
            {
                "size": lambda size: CUSTOM if job.size_name is None else job.size_name,
                "image": lambda images: refs if job.image_list else refs[0],
                "output_format": lambda fmt: OUTPUT_FORMATS.get(fmt, "png"),
            },
        )
        if job.size_name == "":
            del body["aspect_ratio"]
        if job.size_name is None:
            body["width"], body["height"] = job.width, job.height
        prediction = await self.call(
            client,
            "POST",
            f"{self.base_url}/v1/models/{job.model_id}/predictions",
            json={"input": body},
            headers={"Prefer": f"wait={self.prefer_wait}"},
        )
        handle = {
            "id": self.field(prediction, "id", kind=str),
            "get": self.field(prediction, "urls", "get", kind=str),
            "cancel": self.field(prediction, "urls", "cancel", kind=str),
            "seed": job.seed,
        }
        if prediction.get("status") in TERMINAL:
            handle["done"] = {key: prediction.get(key) for key in ("status", "output", "error")}
        return handle

    async def upload(self, image: bytes, client: httpx.AsyncClient) -> str:
        mime = image_type(image)
        answer = await self.call(
            client,
            "POST",
            f"{self.base_url}/v1/files",
            files={"content": (file_name(mime), image, mime)},
        )
        return self.field(answer, "urls", "get", kind=str)

    async def wait(
        self,
        handle: dict[str, Any],
        client: httpx.AsyncClient,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> ProviderResult:
        if "done" in handle:
            return self._finished(handle["done"], handle)

        async def step() -> ProviderResult | ProviderProgress:
            prediction = await self.call(client, "GET", handle["get"])
            match self.field(prediction, "status", kind=str):
                case "starting":
                    return ProviderProgress(status=ProgressStatus.QUEUED)
                case "processing":
                    logs = prediction.get("logs")
                    lines = logs.splitlines() if isinstance(logs, str) else []
                    return ProviderProgress(
                        status=ProgressStatus.RUNNING, logs=tuple(line for line in lines if line)
                    )
                case _:
                    return self._finished(prediction, handle)

        return await self.poll(step, on_progress)

    async def cancel(self, handle: dict[str, Any], client: httpx.AsyncClient) -> None:
        await self.call(client, "POST", handle["cancel"])

    def _finished(self, prediction: dict[str, Any], handle: dict[str, Any]) -> ProviderResult:
        status = prediction.get("status")
        if status != "succeeded":
            reason = self.reason(prediction)
            if status == "failed" and "nsfw" in reason.lower():
                raise ProviderFlagged(f"Replicate's safety filter withheld the images: {reason}")
            raise ProviderUnavailable(
                f"Replicate's prediction ended {str(status)[:40]!r}"
                + (f": {reason}" if reason else "")
            )
        output = prediction.get("output")
        urls = [output] if isinstance(output, str) else output
        if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
            raise ProviderUnavailable("Replicate sent an output that is not a list of URLs")
        return self.result(
            [ProviderImage(url=url, seed=handle["seed"]) for url in urls], request_id=handle["id"]
        )
