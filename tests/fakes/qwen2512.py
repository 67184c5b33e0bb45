"""A fake of the Qwen-Image-2512 task API (shared/seeds/004_*): `POST /api/generate` answers a
task id, `GET /api/status?task_id=` walks PENDING -> IN_PROGRESS -> SUCCESS | FAILED. Every answer
is wrapped as `{"code", "message", "data"}`; errors repeat their code as the HTTP status."""

import re
from typing import Any

from .schema import Choice, Field, Integer, Text, validate
from .server import FakeServer, Phase, Recorded, Reply, Route, json_reply, retry_header

SIZES = ("1024*1024", "1024*1536", "1536*1024", "768*1024", "1024*768")
SCHEMA: dict[str, Field] = {
    "prompt": Text(required=True, max_length=2000),
    "size": Choice(SIZES),
    "seed": Integer(-1),
    "output_format": Choice(("jpeg", "png", "webp")),
    "callback_url": Text(),
}
STATUSES = {
    Phase.QUEUED: "PENDING",
    Phase.RUNNING: "IN_PROGRESS",
    Phase.SUCCEEDED: "SUCCESS",
    Phase.FAILED: "FAILED",
}
CREDITS_PER_IMAGE = 5


class Qwen2512Fake(FakeServer):
    """Routes: "generate", "status", "file"."""

    key_env = "QWEN2512_API_KEY"
    base_url_env = "QWEN2512_BASE_URL"

    def __init__(self, *, api_key: str = "sk-qwen2512-fake-key"):
        super().__init__(api_key=api_key)

    def routes(self) -> list[Route]:
        return [
            Route("POST", re.compile(r"/api/generate"), "generate", self._generate),
            Route("GET", re.compile(r"/api/status"), "status", self._status),
        ]

    def error_reply(self, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        return json_reply(
            status, {"code": status, "message": message, "data": None}, retry_header(retry_after)
        )

    def _generate(self, request: Recorded) -> Reply:
        if problems := validate(SCHEMA, request.json):
            problem = problems[0]
            if problem.kind == "missing":
                return self.error_reply(400, f"Bad Request: '{problem.field}' is required.")
            return self.error_reply(400, f"Bad Request: '{problem.field}': {problem.message}.")
        data = request.json
        width, height = map(int, data.get("size", SIZES[0]).split("*"))
        job = self.new_job(
            "qwen-image-2512",
            data,
            [self.image_url(width, height, data.get("output_format", "jpeg"))],
        )
        return _success({"task_id": job.id, "status": STATUSES[job.phase]})

    def _status(self, request: Recorded) -> Reply:
        task_id = request.query.get("task_id")
        if not task_id:
            return self.error_reply(400, "Bad Request: 'task_id' is required.")
        job = self.jobs.get(task_id)
        if job is None:
            return self.error_reply(404, "Not Found: task does not exist.")
        phase = self.poll(job)
        return _success(
            {
                "task_id": job.id,
                "status": STATUSES[phase],
                "consumed_credits": 0 if phase == Phase.FAILED else CREDITS_PER_IMAGE,
                "error_message": job.error if phase == Phase.FAILED else None,
                "created_at": "2026-01-01T00:00:00Z",
                "request": job.input,
                "response": job.outputs if phase == Phase.SUCCEEDED else None,
            }
        )


def _success(data: dict[str, Any]) -> Reply:
    return json_reply(200, {"code": 200, "message": "success", "data": data})
