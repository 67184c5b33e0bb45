"""A fake of Replicate's predictions API (see shared/protocols/replicate-predictions.md).

Official-model creates at `POST /v1/models/{owner}/{name}/predictions` (201 + prediction), reads at
`GET /v1/predictions/{id}`, cancels at `POST /v1/predictions/{id}/cancel`. `Prefer: wait[=n]`
holds the create until the job could finish (at most n s, and at most `wait_cap`); if it did,
the answer is already `succeeded`, else `starting`. Errors are RFC 7807 problem bodies.

Each model takes exactly the inputs of its published OpenAPI schema (research/replicate.md), with
their enums and ranges; anything else is refused before a prediction is made, with Replicate's
422 `{"detail", "status", "title": "Input validation failed", "invalid_fields": [{"type",
"field", "description"}]}` in the words of its JSON-schema validator (`enum`, `number_lte`,
`required`, `additional_property_not_allowed`, ...).

Images come out at Qwen's native pixels for each `aspect_ratio` (QwenLM/Qwen-Image README),
`width` x `height` for `custom`, and the first input's shape (at about one megapixel, sides
multiples of 32, as the diffusers Qwen edit pipelines size them) for `match_input_image` or a
model that takes no size. An img2img input on a text-to-image model keeps its aspect ratio at
the pixel count the size asked for ("The aspect ratio of your output will match this image").
Replicate publishes no size table: these sizes are the model's own, assumed.
`flag_next_nsfw` makes the next prediction fail as the safety checker makes it fail.

Files: `POST /v1/files` takes multipart/form-data with the file in field `content` (and an optional
`metadata` JSON part) and answers 201 with the file, whose `urls.get` (`/v1/files/{id}`, served with
the key) a prediction may take as an image input.
"""

import hashlib
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from .schema import (
    Boolean,
    Choice,
    Field,
    ImageRef,
    Integer,
    ListOf,
    Number,
    Problem,
    Text,
    input_shape_kept,
    input_size,
    shaped,
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
CUSTOM = "custom"
MATCH_INPUT = "match_input_image"
NSFW_ERROR = (
    "All generated images contained NSFW content. Try running it again with a different prompt."
)
_OUTPUT: dict[str, Field] = {
    "seed": Integer(nullable=True),
    "go_fast": Boolean(),
    "output_format": Choice(("webp", "jpg", "png")),
    "output_quality": Integer(0, 100),
    "disable_safety_checker": Boolean(),
}


@dataclass(frozen=True)
class Model:
    schema: dict[str, Field]
    default_ratio: str | None  # the aspect_ratio when none is sent; None: the input's shape
    img2img: bool = False  # an optional input image whose aspect ratio the output keeps


MODEL_SCHEMAS: dict[str, Model] = {
    # Version 0bba9e70: seven ratios, no custom size.
    "qwen/qwen-image": Model(
        _OUTPUT
        | {
            "prompt": Text(required=True),
            "negative_prompt": Text(),
            "aspect_ratio": Choice(RATIOS),
            "image_size": Choice(("optimize_for_quality", "optimize_for_speed")),
            "num_inference_steps": Integer(1, 50),
            "guidance": Number(0, 10),
            "image": ImageRef(),
            "strength": Number(0, 1),
            "enhance_prompt": Boolean(),
            "lora_weights": Text(nullable=True),
            "lora_scale": Number(),
            "extra_lora_weights": ListOf(Text()),
            "extra_lora_scale": ListOf(Number()),
        },
        "16:9",
        img2img=True,
    ),
    # Version 47c060e8: seven ratios and custom, width and height 256-2048 in steps of 16.
    "qwen/qwen-image-2512": Model(
        _OUTPUT
        | {
            "prompt": Text(required=True),
            "negative_prompt": Text(),
            "aspect_ratio": Choice((*RATIOS, CUSTOM)),
            "width": Integer(256, 2048, step=16),
            "height": Integer(256, 2048, step=16),
            "num_inference_steps": Integer(20, 50),
            "guidance": Number(0, 10),
            "image": ImageRef(),
            "strength": Number(0, 1),
        },
        "16:9",
        img2img=True,
    ),
    # Version a072e0d1: no size at all, the output keeps the input's shape.
    "qwen/qwen-image-edit": Model(
        _OUTPUT | {"prompt": Text(required=True), "image": ImageRef(required=True)}, None
    ),
    # Version 7677b9cc: a list of images (no maxItems), five ratios or the input's shape.
    "qwen/qwen-image-edit-plus": Model(
        _OUTPUT
        | {
            "prompt": Text(required=True),
            "image": ImageRef(required=True, many=True),
            "aspect_ratio": Choice(("1:1", "16:9", "9:16", "4:3", "3:4", MATCH_INPUT)),
        },
        MATCH_INPUT,
    ),
}
MODELS: dict[str, dict[str, Field]] = {name: m.schema for name, m in MODEL_SCHEMAS.items()}
# The JSON-schema validator's error types and words, for the pydantic-style problem kinds.
VALIDATOR_TYPES = {
    "greater_than_equal": "number_gte",
    "less_than_equal": "number_lte",
    "multiple_of": "multiple_of",
    "enum": "enum",
    "string_too_long": "string_lte",
    "too_short": "array_min_items",
    "too_long": "array_max_items",
    "url_parsing": "format",
    "image_load_error": "format",
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
    `single_output` answers one URL instead of a list; `flag_next_nsfw` scripts the safety
    checker.
    """

    key_env = "REPLICATE_API_TOKEN"
    base_url_env = "REPLICATE_BASE_URL"

    def __init__(self, *, api_key: str = "r8_fake-token", models: dict | None = None):
        self.models: dict[str, dict[str, Field]] = dict(models or MODELS)
        self.wait_cap: float = MAX_WAIT_SECONDS
        self.single_output = False
        self._flag_next = 0
        super().__init__(api_key=api_key)

    def flag_next_nsfw(self, *, times: int = 1) -> None:
        """The next `times` predictions fail as Replicate's safety checker fails them (every
        image NSFW), unless they turned `disable_safety_checker` on."""
        with self._changed:
            self._flag_next += times

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
            Problem("", "extra_forbidden", "", value=name) for name in body if name not in BODY_KEYS
        ]
        if "input" not in body:
            problems.append(Problem("", "missing", "", value="input"))
        else:
            problems += [
                Problem(f"input.{p.field}", p.kind, p.message, p.ctx, p.value)
                for p in validate(schema, body["input"])
            ]
        if problems:
            return _invalid(problems)
        data = body["input"]
        image_format = data.get("output_format", "webp")
        size = _output_size(data, MODEL_SCHEMAS.get(model), self.inline_input)
        outputs = [self.image_url(*size, image_format)] if size else []
        job = self.new_job(model, data, outputs)
        if size is None:
            job.error = "width and height are required when aspect_ratio is custom"
        elif self._take_flag(data):
            job.error = NSFW_ERROR
        wait = _prefer_wait(request.headers.get("prefer", ""))
        if wait is not None:
            job.wait_until_ready(min(wait, self.wait_cap))
            self.poll(job)
        return json_reply(201, self._prediction(job))

    def _take_flag(self, data: dict[str, Any]) -> bool:
        with self._changed:
            if not self._flag_next or data.get("disable_safety_checker") is True:
                return False
            self._flag_next -= 1
            return True

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


def _output_size(
    data: dict[str, Any], model: Model | None, inline: Callable[[Any], Any]
) -> tuple[int, int] | None:
    """The pixels the model makes for `data` (None: custom without width and height, which
    the model fails on); `inline` reads an input uploaded to the fake."""
    ratio = data.get("aspect_ratio", model.default_ratio if model else "1:1")
    image = data.get("image")
    first = inline(image[0] if isinstance(image, list) and image else image)
    if ratio is None or ratio == MATCH_INPUT:
        return input_shape_kept(input_size(first, (1024, 1024)))
    if ratio == CUSTOM:
        if "width" not in data or "height" not in data:
            return None
        size = (data["width"], data["height"])
    else:
        size = RATIO_SIZES[ratio]
    if first is not None and model is not None and model.img2img:
        # The input's aspect ratio at the pixels the size asked for.
        return shaped(input_size(first, size), size[0] * size[1], 16)
    return size


def _invalid(problems: list[Problem]) -> Reply:
    fields = [_invalid_field(p) for p in problems]
    return json_reply(
        422,
        {
            "detail": "".join(
                f"- {f['field']}: {f['description']}\n" if f["field"] else f"- {f['description']}\n"
                for f in fields
            ),
            "status": 422,
            "title": "Input validation failed",
            "invalid_fields": fields,
        },
    )


def _invalid_field(problem: Problem) -> dict[str, str]:
    """One of Replicate's `invalid_fields`: a missing or extra input is reported on the object
    holding it (`input`), a bad value on the input itself (`input.<name>`)."""
    parent, _, name = problem.field.rpartition(".")
    match problem.kind:
        case "missing":
            name = name or str(problem.value)
            return {"type": "required", "field": parent, "description": f"{name} is required"}
        case "extra_forbidden":
            name = name or str(problem.value)
            return {
                "type": "additional_property_not_allowed",
                "field": parent,
                "description": f"Additional property {name} is not allowed",
            }
        case "greater_than_equal":
            description = f"Must be greater than or equal to {problem.ctx['ge']}"
        case "less_than_equal":
            description = f"Must be less than or equal to {problem.ctx['le']}"
        case "multiple_of":
            description = f"Must be a multiple of {problem.ctx['multiple_of']}"
        case "enum":
            allowed = ", ".join(f'"{value}"' for value in problem.ctx["expected"])
            description = f"{name} must be one of the following: {allowed}"
        case "url_parsing" | "image_load_error":
            description = "Does not match format 'uri'"
        case "too_short":
            description = f"Array must have at least {problem.ctx['min_length']} items"
        case "too_long":
            description = f"Array must have at most {problem.ctx['max_length']} items"
        case "string_too_long":
            description = f"String length must be less than or equal to {problem.ctx['max_length']}"
        case _:
            expected = problem.ctx.get("expected", "valid value")
            given = _json_type(problem.value)
            return {
                "type": "invalid_type",
                "field": problem.field,
                "description": f"Invalid type. Expected: {expected}, given: {given}",
            }
    return {
        "type": VALIDATOR_TYPES[problem.kind],
        "field": problem.field,
        "description": description,
    }


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "integer" if isinstance(value, int) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "null" if value is None else "object"
