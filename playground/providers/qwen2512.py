"""The Qwen-Image-2512 task API: `POST /api/generate` gives a task id, `GET /api/status` is polled
through PENDING, IN_PROGRESS, SUCCESS or FAILED. Text to image only; the API has no cancel.

Its answers wrap errors as `{"code", "message", "data"}`, so a `code` other than 200 is an error
even when the HTTP status is 200.
"""

from typing import Any, ClassVar

import httpx

from ._http import HttpProvider
from .base import (
    WITHOUT_PREVIEWS_OR_ALPHA,
    Behaviour,
    Param,
    ProgressCallback,
    ProgressStatus,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderRejected,
    ProviderResult,
    ProviderUnavailable,
)

OUTPUT_FORMATS = ("jpeg", "png", "webp")
MAX_PROMPT_CHARS = 2000


class Qwen2512Provider(HttpProvider):
    slug = "qwen2512"
    label = "Qwen-Image-2512 task API"
    key_env = "QWEN2512_API_KEY"
    base_url_env = "QWEN2512_BASE_URL"
    default_base_url = "https://qwen-image-2512.org"
    poll_interval = 5.0  # the provider asks for 5-10 s between status calls

    parameters: ClassVar[dict[str, Param]] = {
        "prompt": Param(Behaviour.PASSTHROUGH, note=f"up to {MAX_PROMPT_CHARS} characters"),
        "size": Param(Behaviour.CONVERTED, "size", "one of its five sizes, as W*H"),
        "seed": Param(Behaviour.PASSTHROUGH, note="-1 asks for a random seed"),
        "output_format": Param(
            Behaviour.CONVERTED,
            "output_format",
            "jpeg, png and webp natively; other formats are converted from png by the gateway",
        ),
        "negative_prompt": Param(Behaviour.IGNORED, note="not offered by this API"),
        "cfg_scale": Param(Behaviour.IGNORED, note="not offered by this API"),
        "strength": Param(Behaviour.IGNORED, note="not offered by this API"),
        "num_inference_steps": Param(Behaviour.IGNORED, note="not offered by this API"),
        "image": Param(Behaviour.IGNORED, note="text to image only: edits go elsewhere"),
        "mask": Param(Behaviour.IGNORED, note="text to image only"),
        **WITHOUT_PREVIEWS_OR_ALPHA,
    }

    async def call(
        self, client: httpx.AsyncClient, method: str, url: str | httpx.URL, **request: Any
    ) -> Any:
        answer = await super().call(client, method, url, **request)
        code = answer.get("code") if isinstance(answer, dict) else None
        if isinstance(code, int) and code != 200:
            raise self.error(code, answer, {})
        return answer

    async def submit(self, job: ProviderJob, client: httpx.AsyncClient) -> dict[str, Any]:
        if job.images:
            raise ProviderUnavailable(f"{self.label} makes images from text only")
        if len(job.prompt) > MAX_PROMPT_CHARS:
            raise ProviderRejected(
                f"{self.label} takes prompts of up to {MAX_PROMPT_CHARS} characters; "
                f"this one has {len(job.prompt)}."
            )
        body = self.translate(
            self.public_values(job),
            {
                "size": lambda size: job.size_name or f"{size[0]}*{size[1]}",
                "output_format": lambda fmt: fmt if fmt in OUTPUT_FORMATS else "png",
            },
        )
        answer = await self.call(client, "POST", f"{self.base_url}/api/generate", json=body)
        return {"task_id": self.field(answer, "data", "task_id", kind=str), "seed": job.seed}

    async def wait(
        self,
        handle: dict[str, Any],
        client: httpx.AsyncClient,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> ProviderResult:
        async def step() -> ProviderResult | ProviderProgress:
            answer = await self.call(
                client,
                "GET",
                f"{self.base_url}/api/status",
                params={"task_id": handle["task_id"]},
            )
            task = self.field(answer, "data", kind=dict)
            match self.field(task, "status", kind=str):
                case "PENDING":
                    return ProviderProgress(status=ProgressStatus.QUEUED)
                case "IN_PROGRESS":
                    return ProviderProgress(status=ProgressStatus.RUNNING)
                case "SUCCESS":
                    urls = self.field(task, "response", kind=list)
                    images = [
                        ProviderImage(url=self.field(urls, i, kind=str), seed=handle["seed"])
                        for i in range(len(urls))
                    ]
                    return self.result(images, request_id=handle["task_id"])
                case "FAILED":
                    reason = self.reason({"message": task.get("error_message")})
                    raise ProviderUnavailable(
                        f"{self.label} failed the task" + (f": {reason}" if reason else "")
                    )
                case other:
                    raise ProviderUnavailable(f"{self.label} sent an unknown status {other[:40]!r}")

        return await self.poll(step, on_progress)
