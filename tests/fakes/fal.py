"""A fake of fal.ai's queue (see shared/protocols/fal-queue.md).

Submit at `POST /{owner}/{app}[/{path}]` with `Authorization: Key ...`; status, result and cancel
only at `/{owner}/{app}/requests/{id}[/status|/cancel]` (the subpath form 404s, as the real queue
does not serve it). Status answers 202 while IN_QUEUE / IN_PROGRESS and 200 once COMPLETED; a
failed run is COMPLETED with `error` / `error_type`, and its result is a 422 `detail` list.

Each endpoint takes exactly the fields of its published schema, with their enums and ranges
(research/fal.md: fal-js `endpoints.ts` and each endpoint's llms.txt; where two sources differ,
the stricter). A body that breaks it is refused at submit with a 422 in pydantic's shape,
`{"detail": [{"loc": ["body", field], "msg", "type", ...}]}`. Whether fal refuses unknown fields
or ignores them is unconfirmed; the fake refuses them, the safe side: an adapter that passes
here sends nothing fal might silently drop.

Images come out at the `image_size` asked: {width, height} as given, a preset at the pixels of
fal's toolkit table. `flag_next_nsfw` makes the next job's images come back black with
`has_nsfw_concepts` true, as fal's safety checker does.

Storage, at `storage_url` (`{url}/rest`, fal's rest.fal.ai): `POST /storage/upload/initiate` with
the key and `{content_type, file_name}` answers `{upload_url, file_url}`; the bytes are PUT to the
signed `upload_url`, which refuses a key; `file_url` serves them to anyone and may be an input.
"""

import re
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from .schema import (
    FAL_IMAGE_SIZES,
    Boolean,
    Choice,
    FalImageSize,
    Field,
    ImageRef,
    Integer,
    ListOf,
    Number,
    Object,
    Problem,
    Text,
    input_shape_kept,
    input_size,
    validate,
)
from .server import FakeServer, Job, Phase, Recorded, Reply, Route, json_reply, retry_header

FLAGGED_COLOUR = (0, 0, 0)  # fal answers a black image where its checker found NSFW concepts


def _fields(*, steps: tuple[int, int], acceleration: tuple[str, ...], formats=("jpeg", "png")):
    return {
        "prompt": Text(required=True),
        "negative_prompt": Text(),
        "image_size": FalImageSize(),
        "num_inference_steps": Integer(*steps),
        "seed": Integer(),
        "guidance_scale": Number(0, 20),
        "sync_mode": Boolean(),
        "num_images": Integer(1, 4),
        "enable_safety_checker": Boolean(),
        "output_format": Choice(formats),
        "acceleration": Choice(acceleration),
    }


LORAS = ListOf(
    Object(fields={"path": Text(required=True), "scale": Number(), "force": Boolean()}),
    max_items=3,
)


@dataclass(frozen=True)
class Endpoint:
    schema: dict[str, Field]
    default_size: str | None  # the preset made when no image_size is sent; None: the input's


QWEN_IMAGE = Endpoint(
    _fields(steps=(2, 250), acceleration=("none", "regular", "high"))
    | {"loras": LORAS, "use_turbo": Boolean()},
    "landscape_4_3",
)
ENDPOINTS: dict[str, Endpoint] = {
    "fal-ai/qwen-image": QWEN_IMAGE,
    "fal-ai/qwen-image-2512": Endpoint(
        _fields(
            steps=(1, 50),
            acceleration=("none", "regular", "high"),
            formats=("jpeg", "png", "webp"),
        ),
        "landscape_4_3",
    ),
    # The enum type has "high" too, but the description says "Options: 'none', 'regular'".
    "fal-ai/qwen-image-edit": Endpoint(
        _fields(steps=(2, 50), acceleration=("none", "regular"))
        | {"image_url": ImageRef(required=True)},
        None,  # unconfirmed: presumably the input's shape, as /image-to-image says it is
    ),
    "fal-ai/qwen-image-edit-plus": Endpoint(
        _fields(steps=(2, 100), acceleration=("none", "regular"))
        | {"image_urls": ImageRef(required=True, many=True)},
        "square_hd",
    ),
    "fal-ai/qwen-image-edit-2509": Endpoint(
        _fields(steps=(2, 100), acceleration=("none", "regular"))
        | {"image_urls": ImageRef(required=True, many=True)},
        "square_hd",
    ),
    # Not researched, and no catalog offering uses it: kept as the subpath model the queue's
    # URL handling is tested with (qwen-image's fields plus its input image and strength).
    "fal-ai/qwen-image/image-to-image": Endpoint(
        QWEN_IMAGE.schema | {"image_url": ImageRef(required=True), "strength": Number(0, 1)},
        None,
    ),
}
MODELS: dict[str, dict[str, Field]] = {name: e.schema for name, e in ENDPOINTS.items()}
SIGNATURE = "fake-signature"  # what the fake signs its upload URLs with
ERROR_TYPES = {503: "runner_scheduling_failure", 504: "request_timeout"}
REQUEST = r"/(?P<app>[^/]+/[^/]+)/requests/(?P<request_id>[^/]+)"
UPLOAD = r"/upload/(?P<upload_id>\w+)"
MEDIA = r"/media/files/(?P<upload_id>\w+)/(?P<name>[\w.-]+)"


class FalFake(FakeServer):
    """Routes: "submit", "status", "result", "cancel", "file"; storage: "initiate", "upload",
    "media".

    `models` maps model ids to input schemas; `job_error_type` is the `error_type` of jobs failed
    through `job_error`; `flag_next_nsfw` scripts the safety checker.
    """

    auth_scheme = "Key"
    key_env = "FAL_KEY"
    base_url_env = "FAL_QUEUE_BASE_URL"

    def __init__(self, *, api_key: str = "fal-fake-key", models: dict | None = None):
        self.models: dict[str, dict[str, Field]] = dict(models or MODELS)
        self.job_error_type = "content_policy_violation"
        self._flag_next: list[Collection[int] | None] = []
        self._flags: dict[str, list[bool]] = {}  # job id -> has_nsfw_concepts
        self._pending: dict[str, tuple[str, str]] = {}  # initiated uploads: content type, name
        super().__init__(api_key=api_key)

    def flag_next_nsfw(self, images: Collection[int] | None = None) -> None:
        """The next submitted job's images at these indexes (all of them when None) come back
        black with `has_nsfw_concepts` true, unless it turned `enable_safety_checker` off."""
        with self._changed:
            self._flag_next.append(images)

    def routes(self) -> list[Route]:
        return [
            # Before "submit", whose pattern takes any POST path.
            Route("POST", re.compile(r"/rest/storage/upload/initiate"), "initiate", self._initiate),
            Route("PUT", re.compile(UPLOAD), "upload", self._upload, public=True),
            Route("GET", re.compile(MEDIA), "media", self._media, public=True),
            Route("GET", re.compile(REQUEST + "/status"), "status", self._status),
            Route("PUT", re.compile(REQUEST + "/cancel"), "cancel", self._cancel),
            Route("GET", re.compile(REQUEST), "result", self._result),
            Route(
                "POST", re.compile(r"/(?P<model>[^/]+/[^/]+(?:/[^/]+)*)"), "submit", self._submit
            ),
        ]

    def error_reply(self, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        body: dict[str, Any] = {"detail": message}
        headers = retry_header(retry_after)
        if status >= 500:
            body["error_type"] = ERROR_TYPES.get(status, "internal_server_error")
            headers["X-Fal-Error-Type"] = body["error_type"]
        return json_reply(status, body, headers)

    def _submit(self, request: Recorded, model: str) -> Reply:
        schema = self.models.get(model)
        if schema is None:
            return self.error_reply(404, f"Application '{model}' not found")
        if problems := validate(schema, request.json):
            return _invalid(problems)
        data = request.json
        width, height = _output_size(data, ENDPOINTS.get(model), self.inline_input)
        image_format = data.get("output_format", "png")
        count = data.get("num_images", 1)
        flags = self._flags_for(data, count)
        make = self.image_data_uri if data.get("sync_mode") else self.image_url
        outputs = [
            make(width, height, image_format, colour=FLAGGED_COLOUR if flag else None)
            for flag in flags
        ]
        job = self.new_job(model, data, outputs)
        self._flags[job.id] = flags
        return json_reply(
            200,
            {
                "status": "IN_QUEUE",
                "request_id": job.id,
                "gateway_request_id": job.id,
                **self._urls(job),
                "queue_position": job.position,
            },
        )

    def _status(self, request: Recorded, app: str, request_id: str) -> Reply:
        job = self._job(app, request_id)
        if job is None:
            return self.error_reply(404, "Request not found")
        phase = self.poll(job)
        logs = None
        if request.query.get("logs") in ("1", "true"):
            logs = [
                {
                    "message": line,
                    "level": "INFO",
                    "source": "user",
                    "timestamp": "2026-01-01T00:00:00Z",
                }
                for line in job.visible_logs
            ]
        body = self._urls(job)
        if phase == Phase.QUEUED:
            return json_reply(202, body | {"status": "IN_QUEUE", "queue_position": job.position})
        if phase == Phase.RUNNING:
            return json_reply(202, body | {"status": "IN_PROGRESS", "logs": logs})
        error, error_type = None, None
        if phase == Phase.FAILED:
            error, error_type = job.error, self.job_error_type
        elif phase == Phase.CANCELLED:
            error, error_type = "Request was cancelled", "request_cancelled"
        return json_reply(
            200,
            body
            | {
                "status": "COMPLETED",
                "logs": logs,
                "metrics": {"inference_time": 0.01},
                "error": error,
                "error_type": error_type,
            },
        )

    def _result(self, request: Recorded, app: str, request_id: str) -> Reply:
        job = self._job(app, request_id)
        if job is None:
            return self.error_reply(404, "Request not found")
        match job.phase:
            case Phase.QUEUED | Phase.RUNNING:
                return self.error_reply(400, "Request is still in progress")
            case Phase.CANCELLED:
                return self.error_reply(400, "Request was cancelled")
            case Phase.FAILED:
                return json_reply(
                    422,
                    {"detail": [{"loc": ["body"], "msg": job.error, "type": self.job_error_type}]},
                )
        width, height = _output_size(job.input, ENDPOINTS.get(job.model), self.inline_input)
        image_format = job.input.get("output_format", "png")
        return json_reply(
            200,
            {
                "images": [
                    {
                        "url": url,
                        "width": width,
                        "height": height,
                        "content_type": f"image/{image_format}",
                    }
                    for url in job.outputs
                ],
                "seed": job.input.get("seed", 42),
                "timings": {"inference": 0.01},
                "has_nsfw_concepts": self._flags.get(job.id, [False] * len(job.outputs)),
                "prompt": job.input["prompt"],
            },
        )

    def _cancel(self, request: Recorded, app: str, request_id: str) -> Reply:
        job = self._job(app, request_id)
        if job is None:
            return json_reply(404, {"status": "NOT_FOUND"})
        if not self.cancel_job(job):
            return json_reply(400, {"status": "ALREADY_COMPLETED"})
        return json_reply(202, {"status": "CANCELLATION_REQUESTED"})

    def _flags_for(self, data: dict[str, Any], count: int) -> list[bool]:
        with self._changed:
            scripted = self._flag_next.pop(0) if self._flag_next else ()
        if scripted == () or data.get("enable_safety_checker") is False:
            return [False] * count
        return [scripted is None or index in scripted for index in range(count)]

    def _job(self, app: str, request_id: str) -> Job | None:
        """The job, if it is asked for under its owner/app (never under the full model id)."""
        job = self.jobs.get(request_id)
        return job if job is not None and _app(job.model) == app else None

    def _urls(self, job: Job) -> dict[str, str]:
        base = f"{self.url}/{_app(job.model)}/requests/{job.id}"
        return {
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    @property
    def storage_url(self) -> str:
        """The base URL of the fake's storage API (FAL_STORAGE_BASE_URL)."""
        return f"{self.url}/rest"

    @property
    def env(self) -> dict[str, str]:
        return super().env | {"FAL_STORAGE_BASE_URL": self.storage_url}

    @property
    def adapter_options(self) -> dict[str, str]:
        return {"storage_url": self.storage_url}

    def _initiate(self, request: Recorded) -> Reply:
        data = request.json
        if not isinstance(data, dict) or not all(
            isinstance(data.get(name), str) for name in ("content_type", "file_name")
        ):
            return self.error_reply(422, "content_type and file_name are required")
        upload_id = uuid.uuid4().hex
        self._pending[upload_id] = (data["content_type"], data["file_name"])
        return json_reply(
            200,
            {
                "upload_url": f"{self.url}/upload/{upload_id}?signature={SIGNATURE}",
                "file_url": f"{self.url}/media/files/{upload_id}/{data['file_name']}",
            },
        )

    def _upload(self, request: Recorded, upload_id: str) -> Reply:
        """The signed upload URL: like a cloud bucket's, it refuses any other credential."""
        pending = self._pending.get(upload_id)
        if pending is None or request.query.get("signature") != SIGNATURE:
            return Reply(403, b"SignatureDoesNotMatch", content_type="text/plain")
        if "authorization" in request.headers:
            return Reply(400, b"Credentials in both header and query", content_type="text/plain")
        content_type, name = pending
        self.store_input(f"{self.url}/media/files/{upload_id}/{name}", content_type, request.body)
        return Reply(200)

    def _media(self, request: Recorded, upload_id: str, name: str) -> Reply:
        stored = self.inputs.get(f"{self.url}/media/files/{upload_id}/{name}")
        if stored is None:
            return Reply(404, b"Not Found", content_type="text/plain")
        return Reply(200, stored[1], content_type=stored[0])


def _app(model: str) -> str:
    return "/".join(model.split("/")[:2])


def _output_size(
    data: dict[str, Any], endpoint: Endpoint | None, inline: Callable[[Any], Any]
) -> tuple[int, int]:
    """The pixels fal makes: the `image_size` asked, else the endpoint's default preset, else
    (an edit endpoint without one) the first input's shape at about one megapixel (`inline`
    reads an input uploaded to the fake)."""
    size = data.get("image_size")
    if isinstance(size, dict):
        return size["width"], size["height"]
    if size is None and endpoint is not None and endpoint.default_size is not None:
        size = endpoint.default_size
    if size is not None:
        return FAL_IMAGE_SIZES[size]
    first = data.get("image_url") or (data.get("image_urls") or [None])[0]
    return input_shape_kept(input_size(inline(first), FAL_IMAGE_SIZES["square_hd"]))


def _invalid(problems: list[Problem]) -> Reply:
    """A 422 in the shape of fal's (pydantic's) validation errors."""
    return json_reply(
        422,
        {
            "detail": [
                {
                    "loc": ["body", *filter(None, [p.field])],
                    "msg": p.message,
                    "type": p.kind,
                    "url": f"https://docs.fal.ai/errors#{p.kind}",
                    **({"ctx": _json_safe(p.ctx)} if p.ctx else {}),
                    **({"input": p.value} if p.value is not None else {}),
                }
                for p in problems
            ]
        },
    )


def _json_safe(ctx: Any) -> Any:
    return {key: list(v) if isinstance(v, tuple) else v for key, v in ctx.items()}
