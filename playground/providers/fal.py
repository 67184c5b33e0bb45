"""fal.ai's queue: submit, poll the status URL, fetch the response URL, cancel.

Only the URLs fal returns on submit are used afterwards: status, result and cancel live under
`owner/app` without the model id's subpath, so building them from the model id would break every
subpath model.

Input images over 256 KiB go to fal's storage first, as fal's clients upload files: `POST
{storage}/storage/upload/initiate?storage_type=fal-cdn-v3` with the key and `{content_type,
file_name}` answers `{upload_url, file_url}`; the bytes are PUT to the signed `upload_url` without
the key, and `file_url` is the input. Smaller images go inline as data URIs.
"""

import json
import os
from typing import Any, ClassVar

import httpx

from ._http import HttpProvider, file_name, image_type
from .base import (
    WITHOUT_PREVIEWS_OR_ALPHA,
    Behaviour,
    Param,
    ProgressCallback,
    ProgressStatus,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderResult,
    ProviderUnavailable,
)

NATIVE_FORMATS = ("png", "jpeg")
# Asks fal to delete an uploaded input after a day (the header fal-js sends on initiate); a job
# has read its inputs long before (`max_wait`).
UPLOAD_LIFECYCLE = json.dumps({"expiration_duration_seconds": 24 * 60 * 60})
HANDLE_URLS = ("status_url", "response_url", "cancel_url")


class FalProvider(HttpProvider):
    slug = "fal"
    label = "fal.ai"
    key_env = "FAL_KEY"
    base_url_env = "FAL_QUEUE_BASE_URL"
    default_base_url = "https://queue.fal.run"
    auth_scheme = "Key"
    poll_interval = 0.5
    max_images_per_call = 4
    inline_max_bytes = 256 * 1024
    storage_url_env: ClassVar[str] = "FAL_STORAGE_BASE_URL"
    default_storage_url: ClassVar[str] = "https://rest.fal.ai"

    parameters: ClassVar[dict[str, Param]] = {
        "prompt": Param(Behaviour.PASSTHROUGH),
        "negative_prompt": Param(Behaviour.PASSTHROUGH),
        "size": Param(
            Behaviour.CONVERTED, "image_size", "sent as {width, height}, or one of fal's names"
        ),
        "seed": Param(Behaviour.PASSTHROUGH),
        "n": Param(Behaviour.RENAMED, "num_images", "up to 4 per call, more by parallel calls"),
        "image": Param(
            Behaviour.CONVERTED,
            "image_urls",
            "data URIs up to 256 KiB, larger images uploaded to fal's storage and sent by URL; "
            "image_url on one-image endpoints",
        ),
        "mask": Param(
            Behaviour.EMULATED,
            note="the gateway composites the edit into the input through the mask",
        ),
        "output_format": Param(
            Behaviour.CONVERTED,
            "output_format",
            "png and jpeg natively; other formats are converted from png by the gateway",
        ),
        "cfg_scale": Param(Behaviour.RENAMED, "guidance_scale"),
        "strength": Param(Behaviour.PASSTHROUGH),
        "num_inference_steps": Param(Behaviour.PASSTHROUGH),
        "acceleration": Param(Behaviour.PASSTHROUGH, note="none, regular or high"),
        "enable_safety_checker": Param(Behaviour.PASSTHROUGH),
        "sync_mode": Param(Behaviour.PASSTHROUGH, note="images come back as data URIs"),
        **WITHOUT_PREVIEWS_OR_ALPHA,
    }

    def __init__(self, *, api_key: str = "", base_url: str = "", storage_url: str = ""):
        super().__init__(api_key=api_key, base_url=base_url)
        self.storage_url = (storage_url or self.default_storage_url).rstrip("/")

    @classmethod
    def from_environment(cls) -> "FalProvider | None":
        provider = super().from_environment()
        if provider is None:
            return None
        return cls(
            api_key=provider.api_key,
            base_url=provider.base_url,
            storage_url=os.environ.get(cls.storage_url_env, ""),
        )

    async def submit(self, job: ProviderJob, client: httpx.AsyncClient) -> dict[str, Any]:
        refs = await self.image_refs(job.images, client)
        body = self.translate(
            self.public_values(job),
            {
                "size": lambda size: (
                    {"width": size[0], "height": size[1]}
                    if job.size_name is None
                    else job.size_name
                ),
                "image": lambda images: refs,
                "output_format": lambda fmt: fmt if fmt in NATIVE_FORMATS else "png",
            },
        )
        if job.size_name == "":
            del body["image_size"]
        if "image_urls" in body and not job.image_list:
            body["image_url"] = body.pop("image_urls")[0]
        answer = await self.call(client, "POST", f"{self.base_url}/{job.model_id}", json=body)
        return {
            "request_id": self.field(answer, "request_id", kind=str),
            **{name: self.field(answer, name, kind=str) for name in HANDLE_URLS},
        }

    async def upload(self, image: bytes, client: httpx.AsyncClient) -> str:
        mime = image_type(image)
        answer = await self.call(
            client,
            "POST",
            f"{self.storage_url}/storage/upload/initiate",
            params={"storage_type": "fal-cdn-v3"},
            json={"content_type": mime, "file_name": file_name(mime)},
            headers={"X-Fal-Object-Lifecycle": UPLOAD_LIFECYCLE},
        )
        upload_url = self.field(answer, "upload_url", kind=str)
        file_url = self.field(answer, "file_url", kind=str)
        await self.send(
            client,
            "PUT",
            upload_url,
            ok=(200, 201, 204),
            is_authenticated=False,
            content=image,
            headers={"Content-Type": mime},
        )
        return file_url

    async def wait(
        self,
        handle: dict[str, Any],
        client: httpx.AsyncClient,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> ProviderResult:
        status_url = httpx.URL(handle["status_url"]).copy_merge_params({"logs": "1"})

        async def step() -> ProviderResult | ProviderProgress:
            status = await self.call(client, "GET", status_url)
            match self.field(status, "status", kind=str):
                case "IN_QUEUE":
                    position = status.get("queue_position")
                    return ProviderProgress(
                        status=ProgressStatus.QUEUED,
                        queue_position=position if isinstance(position, int) else None,
                    )
                case "IN_PROGRESS":
                    logs = status.get("logs")
                    return ProviderProgress(
                        status=ProgressStatus.RUNNING,
                        logs=tuple(
                            str(log.get("message", ""))
                            for log in (logs if isinstance(logs, list) else ())
                            if isinstance(log, dict)
                        ),
                    )
                case "COMPLETED":
                    # A failed run is COMPLETED too; its result call answers with the error.
                    return await self._result(handle, client)
                case other:
                    raise ProviderUnavailable(f"fal.ai sent an unknown status {other[:40]!r}")

        return await self.poll(step, on_progress)

    async def cancel(self, handle: dict[str, Any], client: httpx.AsyncClient) -> None:
        # 400 says ALREADY_COMPLETED and 404 NOT_FOUND: nothing left to stop either way.
        await self.call(client, "PUT", handle["cancel_url"], ok=(200, 202, 400, 404))

    async def _result(self, handle: dict[str, Any], client: httpx.AsyncClient) -> ProviderResult:
        output = await self.call(client, "GET", handle["response_url"])
        images = self.field(output, "images", kind=list)
        seed = output.get("seed")
        flags = output.get("has_nsfw_concepts")
        flags = flags if isinstance(flags, list) else []
        return self.result(
            [
                ProviderImage(
                    url=self.field(image, "url", kind=str),
                    seed=seed if isinstance(seed, int) else None,
                    flagged=index < len(flags) and flags[index] is True,
                )
                for index, image in enumerate(images)
            ],
            request_id=handle["request_id"],
        )
