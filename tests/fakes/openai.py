"""A fake OpenAI-compatible images API (see shared/protocols/openai-images.md), serving a few
Qwen models: `POST /v1/images/generations` (JSON), `POST /v1/images/edits` (multipart, `image` or
repeated `image[]` parts, optional `mask`), `GET /v1/models`. Unknown parameters are refused with
OpenAI's error envelope, except the extensions a Qwen host takes (`extensions`)."""

import base64
import json
import re
import time
import uuid
from typing import Any

from .schema import (
    Boolean,
    Choice,
    Field,
    Integer,
    Number,
    PixelSize,
    Problem,
    Text,
    image_size,
    validate,
)
from .server import (
    HANG_LIMIT_SECONDS,
    FakeServer,
    FormPart,
    Recorded,
    Reply,
    Route,
    json_reply,
    retry_header,
)

GENERATIONS: dict[str, Field] = {
    "prompt": Text(required=True, max_length=32000),
    "model": Text(),
    "n": Integer(1, 10),
    "size": PixelSize(),
    "quality": Choice(("standard", "hd", "low", "medium", "high", "auto")),
    "response_format": Choice(("url", "b64_json")),
    "output_format": Choice(("png", "jpeg", "webp")),
    "output_compression": Integer(0, 100),
    "background": Choice(("transparent", "opaque", "auto")),
    "moderation": Choice(("low", "auto")),
    "style": Choice(("vivid", "natural")),
    "partial_images": Integer(0, 3),
    "stream": Boolean(),
    "user": Text(),
}
EDITS = {
    name: field for name, field in GENERATIONS.items() if name not in ("moderation", "style")
} | {"input_fidelity": Choice(("high", "low"))}
EXTENSIONS: dict[str, Field] = {
    "seed": Integer(),
    "negative_prompt": Text(),
    "cfg_scale": Number(0, 50),
    "strength": Number(0, 1),
    "num_inference_steps": Integer(1, 500),
}
MODELS = (
    "qwen-image",
    "qwen-image-2512",
    "qwen-image-edit",
    "qwen-image-edit-plus",
    "qwen-image-edit-2509",
)
FILE_PARTS = ("image", "image[]", "mask")
MESSAGES = {
    "extra_forbidden": ("Unknown parameter: '{field}'.", "unknown_parameter"),
    "missing": ("Missing required parameter: '{field}'.", "missing_required_parameter"),
}


class OpenAIFake(FakeServer):
    """Routes: "generations", "edits", "models", "file".

    Answers `b64_json` items, or URLs on this fake with `response_format=url` (the default, as
    for dall-e). `extensions` are the non-OpenAI fields accepted; `models` the model ids.
    """

    key_env = "OPENAI_UPSTREAM_API_KEY"
    base_url_env = "OPENAI_UPSTREAM_BASE_URL"

    def __init__(self, *, api_key: str = "sk-openai-fake-key"):
        self.extensions: dict[str, Field] = dict(EXTENSIONS)
        self.models: list[str] = list(MODELS)
        # OpenAI makes a transparent picture for background="transparent"; False scripts an
        # upstream that ignores it.
        self.makes_transparency = True
        super().__init__(api_key=api_key)

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def routes(self) -> list[Route]:
        return [
            Route("POST", re.compile(r"/v1/images/generations"), "generations", self._generations),
            Route("POST", re.compile(r"/v1/images/edits"), "edits", self._edits),
            Route("GET", re.compile(r"/v1/models"), "models", self._models),
        ]

    def error_reply(
        self,
        status: int,
        message: str,
        *,
        retry_after: str | None = None,
        param: str | None = None,
        code: str | None = None,
    ) -> Reply:
        error_type = "server_error" if status >= 500 else "invalid_request_error"
        code = code or {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
        return json_reply(
            status,
            {"error": {"message": message, "type": error_type, "param": param, "code": code}},
            {"x-request-id": f"req_{uuid.uuid4().hex}", **retry_header(retry_after)},
        )

    def _generations(self, request: Recorded) -> Reply:
        return self._answer(request.json, GENERATIONS, "image_generation")

    def _edits(self, request: Recorded) -> Reply:
        schema = EDITS | self.extensions
        fields = {
            part.name: schema[part.name].from_text(part.text) if part.name in schema else part.text
            for part in request.form
            if part.name not in FILE_PARTS
        }
        images = request.parts("image") + request.parts("image[]")
        if not images:
            return self._invalid(Problem("image", "missing", ""))
        for part in images + request.parts("mask"):
            if not _is_image(part):
                return self.error_reply(
                    400, "Invalid image file.", param=part.name, code="invalid_image_file"
                )
        return self._answer(fields, EDITS, "image_edit")

    def _models(self, request: Recorded) -> Reply:
        return json_reply(
            200,
            {
                "object": "list",
                "data": [
                    {"id": model, "object": "model", "created": 1767225600, "owned_by": "fake"}
                    for model in self.models
                ],
            },
        )

    def _answer(self, data: Any, schema: dict[str, Field], events: str) -> Reply:
        """The images for a valid request; `events` names its stream's events."""
        if problems := validate(schema | self.extensions, data):
            return self._invalid(problems[0])
        model = data.get("model", self.models[0])
        if model not in self.models:
            return self.error_reply(
                404, f"The model '{model}' does not exist.", param="model", code="model_not_found"
            )
        job = self.new_job(model, data, [])
        job.wait_until_ready(HANG_LIMIT_SECONDS)
        if job.error:
            return self.error_reply(500, job.error)
        size = data.get("size", "auto")
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        image_format = data.get("output_format", "png")
        count = data.get("n", 1)
        transparent = data.get("background") == "transparent" and self.makes_transparency
        colours = [(*self._next_colour(), 0) if transparent else None for _ in range(count)]
        facts = {
            "output_format": image_format,
            "size": f"{width}x{height}",
            "background": "transparent" if transparent else "opaque",
        }
        if data.get("stream"):
            images = [(width, height, image_format, colour) for colour in colours]
            return self._stream(data, facts, images, prefix=events)
        if data.get("response_format", "url") == "url":
            items = [
                {"url": self.image_url(width, height, image_format, colour=colour)}
                for colour in colours
            ]
        else:
            items = [
                {
                    "b64_json": base64.b64encode(
                        self.image_bytes(width, height, image_format, colour=colour)
                    ).decode()
                }
                for colour in colours
            ]
        return json_reply(
            200,
            {"created": int(time.time()), "data": items} | facts,
            {"x-request-id": f"req_{job.id}"},
        )

    def _stream(self, data: dict, facts: dict, images: list, *, prefix: str) -> Reply:
        """OpenAI's stream: `partial_images` previews (of the first image), then one completed
        event per image, as server-sent events."""
        width, height, image_format, _ = images[0]
        events = [
            (
                f"{prefix}.partial_image",
                {"partial_image_index": index} | self._b64(width, height, image_format, None),
            )
            for index in range(data.get("partial_images", 0))
        ]
        events += [(f"{prefix}.completed", self._b64(*image)) for image in images]
        body = "".join(
            f"event: {kind}\ndata: "
            + json.dumps({"type": kind, "created_at": int(time.time())} | facts | fields)
            + "\n\n"
            for kind, fields in events
        )
        return Reply(200, body.encode(), content_type="text/event-stream")

    def _b64(self, width: int, height: int, image_format: str, colour) -> dict:
        data = self.image_bytes(width, height, image_format, colour=colour)
        return {"b64_json": base64.b64encode(data).decode()}

    def _invalid(self, problem: Problem) -> Reply:
        template, code = MESSAGES.get(
            problem.kind, ("Invalid value for '{field}': {message}.", "invalid_value")
        )
        return self.error_reply(
            400,
            template.format(field=problem.field, message=problem.message),
            param=problem.field,
            code=code,
        )


def _is_image(part: FormPart) -> bool:
    try:
        image_size(part.data)
    except ValueError:
        return False
    return True
