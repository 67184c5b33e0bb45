"""A fake of Replicate's predictions API (see shared/protocols/replicate-predictions.md).

Official-model creates at `POST /v1/models/{owner}/{name}/predictions` (201 + prediction), reads at
`GET /v1/predictions/{id}`, cancels at `POST /v1/predictions/{id}/cancel`. `Prefer: wait[=n]`
holds the create until the job could finish (at most n s, and at most `wait_cap`); if it did,
the answer is already `succeeded`, else `starting`. Errors are RFC 7807 problem bodies.

Files: `POST /v1/files` takes multipart/form-data with the file in field `content` (and an optional
`metadata` JSON part) and answers 201 with the file, whose `urls.get` (`/v1/files/{id}`, served with
the key) a prediction may take as an image input.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from .schema import (
    Boolean,
    Choice,
    Field,
    ImageRef,
    Integer,
    Number,
    Problem,
    Text,
    input_size,
    validate,
)
from .server import FakeServer, Job, Phase, Recorded, Reply, Route, json_reply, retry_header

RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")
RATIO_SIZES = {
    "1:1": (1328, 1328),
    "16:9": (1664, 928),
    "9:16": (928, 1664),
    "4:3": (1472, 1104),
    "3:4": (1104, 1472),
    "3:2": (1584, 1056),
    "2:3": (1056, 1584),
}
_OUTPUT: dict[str, Field] = {
    "seed": Integer(),
    "go_fast": Boolean(),
    "output_format": Choice(("webp", "jpg", "png")),
    "output_quality": Integer(0, 100),
    "disable_safety_checker": Boolean(),
}
TEXT_TO_IMAGE = _OUTPUT | {
    "prompt": Text(required=True),
    "negative_prompt": Text(),
    "aspect_ratio": Choice((*RATIOS, "custom")),
    "width": Integer(64, 4096, step=16),
    "height": Integer(64, 4096, step=16),
    "image_size": Choice(("optimize_for_quality", "optimize_for_speed")),
    "num_inference_steps": Integer(1, 50),
    "guidance": Number(0, 10),
    "enhance_prompt": Boolean(),
    "lora_weights": Text(),
    "lora_scale": Number(),
    "image": ImageRef(),
    "strength": Number(0, 1),
}
EDIT = _OUTPUT | {
    "prompt": Text(required=True),
    "image": ImageRef(required=True),
    "aspect_ratio": Choice((*RATIOS, "match_input_image")),
}
EDIT_MANY = EDIT | {"image": ImageRef(required=True, many=True)}

MODELS: dict[str, dict[str, Field]] = {
    "qwen/qwen-image": TEXT_TO_IMAGE,
    "qwen/qwen-image-2512": TEXT_TO_IMAGE,
    "qwen/qwen-image-edit": EDIT,
    "qwen/qwen-image-edit-plus": EDIT_MANY,
}
BODY_KEYS = frozenset({"input", "webhook", "webhook_events_filter", "webhook_completed", "stream"})
STATUSES = {
    Phase.QUEUED: "starting",
    Phase.RUNNING: "processing",
    Phase.SUCCEEDED: "succeeded",
    Phase.FAILED: "failed",
    Phase.CANCELLED: "canceled",
}
MAX_WAIT_SECONDS = 60
TIMESTAMP = "2026-01-01T00:00:00.000Z"
EXPIRES = "2026-01-02T00:00:00.000Z"  # files expire a day after they are created


class ReplicateFake(FakeServer):
    """Routes: "create", "get", "cancel", "file".

    `wait_cap` bounds how long `Prefer: wait` holds a create (0: never, so clients must poll);
    `single_output` answers one URL instead of a list.
    """

    key_env = "REPLICATE_API_TOKEN"
    base_url_env = "REPLICATE_BASE_URL"

    def __init__(self, *, api_key: str = "r8_fake-token", models: dict | None = None):
        self.models: dict[str, dict[str, Field]] = dict(models or MODELS)
        self.wait_cap: float = MAX_WAIT_SECONDS
        self.single_output = False
        super().__init__(api_key=api_key)

    def routes(self) -> list[Route]:
        prediction = r"/v1/predictions/(?P<prediction_id>\w+)"
        return [
            Route(
                "POST",
                re.compile(r"/v1/models/(?P<model>[^/]+/[^/]+)/predictions"),
                "create",
                self._create,
            ),
            Route("GET", re.compile(prediction), "get", self._get),
            Route("POST", re.compile(prediction + "/cancel"), "cancel", self._cancel),
            Route("POST", re.compile(r"/v1/files"), "upload", self._upload),
            Route("GET", re.compile(r"/v1/files/(?P<file_id>\w+)"), "uploaded", self._uploaded),
        ]

    def error_reply(self, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        body: dict[str, Any] = {
            "type": "https://replicate.com/docs/reference/http#errors",
            "title": HTTPStatus(status).phrase,
            "status": status,
            "detail": message,
        }
        if retry_after is not None and retry_after.isdigit():
            body["retry_after"] = int(retry_after)
        return json_reply(status, body, retry_header(retry_after))

    def _create(self, request: Recorded, model: str) -> Reply:
        schema = self.models.get(model)
        if schema is None:
            return self.error_reply(404, f"The requested model {model} was not found.")
        body = request.json
        if not isinstance(body, dict):
            return self.error_reply(400, "The request body must be a JSON object.")
        problems = [
            Problem(name, "extra_forbidden", "Additional property is not allowed")
            for name in body
            if name not in BODY_KEYS
        ]
        problems += [
            Problem(f"input.{p.field}".rstrip("."), p.kind, p.message)
            for p in validate(schema, body.get("input"))
        ]
        if problems:
            return _invalid(problems)
        data = body["input"]
        width, height = _output_size(data, self.inline_input)
        image_format = data.get("output_format", "webp")
        job = self.new_job(model, data, [self.image_url(width, height, image_format)])
        wait = _prefer_wait(request.headers.get("prefer", ""))
        if wait is not None:
            job.wait_until_ready(min(wait, self.wait_cap))
            self.poll(job)
        return json_reply(201, self._prediction(job))

    def _get(self, request: Recorded, prediction_id: str) -> Reply:
        job = self.jobs.get(prediction_id)
        if job is None:
            return self.error_reply(404, "The requested prediction was not found.")
        self.poll(job)
        return json_reply(200, self._prediction(job))

    def _cancel(self, request: Recorded, prediction_id: str) -> Reply:
        job = self.jobs.get(prediction_id)
        if job is None:
            return self.error_reply(404, "The requested prediction was not found.")
        self.cancel_job(job)
        return json_reply(200, self._prediction(job))

    def _prediction(self, job: Job) -> dict[str, Any]:
        phase = job.phase
        output: list[str] | str | None = None
        if phase == Phase.SUCCEEDED:
            output = job.outputs[0] if self.single_output else job.outputs
        is_done = job.is_finished
        url = f"{self.url}/v1/predictions/{job.id}"
        return {
            "id": job.id,
            "model": job.model,
            "version": None,
            "status": STATUSES[phase],
            "input": job.input,
            "output": output,
            "error": job.error if phase == Phase.FAILED else None,
            "logs": "".join(f"{line}\n" for line in job.visible_logs),
            "metrics": {"predict_time": 0.01, "total_time": 0.02} if is_done else {},
            "data_removed": False,
            "source": "api",
            "created_at": TIMESTAMP,
            "started_at": TIMESTAMP if phase != Phase.QUEUED else None,
            "completed_at": TIMESTAMP if is_done else None,
            "urls": {
                "get": url,
                "cancel": f"{url}/cancel",
                "web": f"https://replicate.com/p/{job.id}",
            },
        }

    def _upload(self, request: Recorded) -> Reply:
        parts = request.parts("content")
        if not parts or parts[0].filename is None:
            return self.error_reply(400, "The form field 'content' must hold a file.")
        content = parts[0]
        metadata = request.parts("metadata")
        md5 = hashlib.md5(content.data, usedforsecurity=False).hexdigest()  # Replicate's etag
        file_id = uuid.uuid4().hex
        url = f"{self.url}/v1/files/{file_id}"
        self.store_input(url, content.content_type, content.data)
        return json_reply(
            201,
            {
                "id": file_id,
                "name": content.filename,
                "content_type": content.content_type,
                "size": len(content.data),
                "etag": md5,
                "checksums": {
                    "sha256": hashlib.sha256(content.data).hexdigest(),
                    "md5": md5,
                },
                "metadata": json.loads(metadata[0].data) if metadata else {},
                "created_at": TIMESTAMP,
                "expires_at": EXPIRES,
                "urls": {"get": url},
            },
        )

    def _uploaded(self, request: Recorded, file_id: str) -> Reply:
        stored = self.inputs.get(f"{self.url}/v1/files/{file_id}")
        if stored is None:
            return self.error_reply(404, "The requested file was not found.")
        return Reply(200, stored[1], content_type=stored[0])


def _prefer_wait(prefer: str) -> float | None:
    """Seconds asked for by `Prefer: wait` or `Prefer: wait=n`, None without it."""
    for token in prefer.split(","):
        name, _, value = token.strip().partition("=")
        if name == "wait":
            return min(int(value), MAX_WAIT_SECONDS) if value.isdigit() else MAX_WAIT_SECONDS
    return None


def _output_size(data: dict[str, Any], inline: Callable[[Any], Any]) -> tuple[int, int]:
    ratio = data.get("aspect_ratio", "match_input_image" if "image" in data else "1:1")
    if ratio == "custom":
        return data.get("width", 1024), data.get("height", 1024)
    if ratio == "match_input_image":
        image = data["image"]
        return input_size(inline(image[0] if isinstance(image, list) else image), (1024, 1024))
    return RATIO_SIZES[ratio]


def _invalid(problems: list[Problem]) -> Reply:
    return json_reply(
        422,
        {
            "type": "https://replicate.com/docs/reference/http#input-validation",
            "title": "Input validation failed",
            "status": 422,
            "detail": "\n".join(f"- {p.field}: {p.message}" for p in problems),
            "invalid_fields": [
                {"type": p.kind, "field": p.field, "description": p.message} for p in problems
            ],
        },
    )
