"""The machinery every fake provider shares: a real HTTP server on a loopback port, request
recording, scripted faults, a job state machine that tests drive, and result images.

A fake is a `ThreadingHTTPServer` in a background thread (one thread per connection), so a test
can hold a response or a job on a `threading.Event` and release it when it wants, without sleeps.

Scripting, from any thread:

- `fail_next(status, times=, on=, message=, retry_after=, body=)`: answer with an error in the
  provider's own shape (or `body`); `on` names a route ("submit", "status", "file", ...).
- `hang_next(times=, on=)`: hold the response until `release()` (or `stop()`), to outlast a
  client timeout.
- `malformed_next(times=, on=)`: answer 200 with truncated JSON (corrupt bytes on "file").
- `drip_next(times=, on=, every=)`: send the right answer, but one byte every `every` seconds,
  so that no single read times out while the whole answer takes as long as the fake likes;
  `release()` (or `stop()`) sends the rest at once.
- `hold_jobs()` / `release_jobs()`: jobs do not finish while held; `delay` (seconds) makes each
  job take that long; `queue_position` and `logs` script what status polls report;
  `job_error` makes jobs fail with that message. A fake may add its provider's own knobs
  (`flag_next_nsfw` on fal and Replicate).
- `wait_for(predicate)`: block until `predicate()` holds, re-checked after every request and
  every change of a job.

Input images uploaded to a fake's storage are kept in `inputs` (URL -> content type, bytes);
`inline_input(ref)` turns such a URL into the data URI of its bytes, for the size logic.
"""

import base64
import email.parser
import email.policy
import io
import itertools
import json
import re
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit

from PIL import Image

HANG_LIMIT_SECONDS = 60.0  # a hung response answers anyway after this, so no thread leaks forever
MALFORMED_JSON = b'{"status": "IN_PROGRESS", "logs": [{"message": '
CORRUPT_IMAGE = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR this is not a picture"
PILLOW_FORMATS = {"png": "PNG", "jpeg": "JPEG", "jpg": "JPEG", "webp": "WEBP"}
CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
}
Colour = tuple[int, ...]  # RGB, or RGBA for a transparent picture
ImageSpec = tuple[int, int, str, Colour]  # width, height, format, colour
COLOURS: tuple[Colour, ...] = ((230, 90, 60), (60, 140, 220), (90, 190, 110), (240, 200, 70))


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None
    content_type: str
    data: bytes

    @property
    def text(self) -> str:
        return self.data.decode()


@dataclass(frozen=True)
class Recorded:
    """One request as the fake received it."""

    route: str  # the fake's name for the endpoint, "" when no route matched
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names in lower case
    body: bytes
    json: Any = None  # the parsed JSON body, if it was JSON
    form: tuple[FormPart, ...] = ()  # the parts of a multipart body

    def parts(self, name: str) -> list[FormPart]:
        return [part for part in self.form if part.name == name]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    drip: "Fault | None" = None  # send the body a byte at a time, as this fault says


def json_reply(status: int, data: Any, headers: Mapping[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), headers=headers or {})


class FaultKind(StrEnum):
    STATUS = "status"  # an error answer
    HANG = "hang"  # no answer until released
    MALFORMED = "malformed"  # a 200 that cannot be parsed
    DRIP = "drip"  # the right answer, a byte at a time


@dataclass
class Fault:
    kind: FaultKind
    on: str | None
    times: int
    status: int = 500
    message: str = ""
    retry_after: str | None = None
    body: Any = None
    every: float = 0.0  # seconds between two bytes of a dripped answer
    released: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    name: str
    handler: Callable[..., Reply]  # handler(request, **groups of the pattern)
    public: bool = False  # served without the API key (result files)


class Phase(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(eq=False)
class Job:
    """A job at the fake. Status polls move it along: it reports `queue_position` falling by one
    per poll, then one more log line per poll, then finishes once it is released and its delay
    is over (until then it stays running)."""

    id: str
    model: str
    input: dict[str, Any]
    outputs: list[str]  # result URLs (or data URIs), shown once succeeded
    queue_position: int
    logs: tuple[str, ...]
    ready_at: float  # time.monotonic() after which it may finish
    released: threading.Event
    error: str | None = None
    polls: int = 0
    cancelled: bool = False

    @property
    def phase(self) -> Phase:
        if self.cancelled:
            return Phase.CANCELLED
        if self.polls <= self.queue_position:
            return Phase.QUEUED
        if self.polls <= self.queue_position + len(self.logs) or not self.is_ready:
            return Phase.RUNNING
        return Phase.FAILED if self.error else Phase.SUCCEEDED

    @property
    def is_ready(self) -> bool:
        return self.released.is_set() and time.monotonic() >= self.ready_at

    @property
    def is_finished(self) -> bool:
        return self.phase in (Phase.SUCCEEDED, Phase.FAILED, Phase.CANCELLED)

    @property
    def position(self) -> int:
        return max(self.queue_position - self.polls, 0)

    @property
    def visible_logs(self) -> tuple[str, ...]:
        return self.logs[: max(self.polls - self.queue_position, 0)]

    def wait_until_ready(self, timeout: float) -> None:
        """Block until the job could finish, or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        self.released.wait(timeout)
        time.sleep(max(0.0, min(self.ready_at, deadline) - time.monotonic()))


class FakeServer:
    """Base of the fakes. Subclasses set `auth_scheme`, define `routes()` and `error_reply()`."""

    auth_scheme: ClassVar[str] = "Bearer"
    key_env: ClassVar[str] = ""
    base_url_env: ClassVar[str] = ""

    def __init__(self, *, api_key: str = "fake-provider-key"):
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.jobs: dict[str, Job] = {}
        self.delay = 0.0
        self.queue_position = 0
        self.logs: tuple[str, ...] = ()
        self.job_error: str | None = None
        self.crashes: list[str] = []  # tracebacks of requests the fake itself failed on
        self.inputs: dict[str, tuple[str, bytes]] = {}  # uploaded input images by their URL
        self.url = ""
        files = Route("GET", re.compile(r"/files/(?P<name>[\w.-]+)"), "file", self._file, True)
        self._routes = [*self.routes(), files]
        self._faults: list[Fault] = []
        self._hung: list[Fault] = []
        self._jobs_released = threading.Event()
        self._jobs_released.set()
        self._files: dict[str, ImageSpec] = {}
        self._rendered: dict[ImageSpec, bytes] = {}
        self._changed = threading.Condition()
        self._counter = itertools.count()
        self._server: ThreadingHTTPServer | None = None

    # Lifecycle

    def start(self) -> Self:
        fake = self

        class Handler(_Handler):
            def dispatch(self) -> None:
                fake._serve(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"{type(self).__name__} {self.url}",
            daemon=True,
        ).start()
        return self

    def stop(self) -> None:
        self.release()
        self.release_jobs()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        if self.crashes and exc_info[0] is None:
            raise AssertionError(f"{type(self).__name__} crashed:\n" + "\n".join(self.crashes))

    @property
    def base_url(self) -> str:
        """The base URL an adapter is configured with."""
        return self.url

    @property
    def env(self) -> dict[str, str]:
        """The environment that points the real adapter at this fake."""
        return {self.key_env: self.api_key, self.base_url_env: self.base_url}

    @property
    def adapter_options(self) -> dict[str, str]:
        """Further arguments of the adapter's constructor that point it at this fake."""
        return {}

    # Scripting

    def fail_next(
        self,
        status: int = 500,
        *,
        times: int = 1,
        on: str | None = None,
        message: str = "",
        retry_after: str | None = None,
        body: Any = None,
    ) -> None:
        self._add_fault(Fault(FaultKind.STATUS, on, times, status, message, retry_after, body))

    def hang_next(self, *, times: int = 1, on: str | None = None) -> None:
        self._add_fault(Fault(FaultKind.HANG, on, times))

    def malformed_next(self, *, times: int = 1, on: str | None = None) -> None:
        self._add_fault(Fault(FaultKind.MALFORMED, on, times))

    def drip_next(self, *, times: int = 1, on: str | None = None, every: float = 0.05) -> None:
        self._add_fault(Fault(FaultKind.DRIP, on, times, every=every))

    def release(self) -> None:
        """Let every hung response answer."""
        with self._changed:
            hung, self._hung = self._hung, []
        for fault in hung:
            fault.released.set()

    def hold_jobs(self) -> None:
        self._jobs_released.clear()

    def release_jobs(self) -> None:
        self._jobs_released.set()

    # Inspection

    def requests_to(self, route: str) -> list[Recorded]:
        with self._changed:
            return [request for request in self.requests if request.route == route]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        with self._changed:
            if not self._changed.wait_for(predicate, timeout):
                raise TimeoutError(f"{type(self).__name__}: condition not met in {timeout} s")

    # For subclasses

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def error_reply(self, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        """An error in the provider's shape."""
        raise NotImplementedError

    def authorized(self, request: Recorded) -> bool:
        return request.headers.get("authorization") == f"{self.auth_scheme} {self.api_key}"

    def new_job(self, model: str, data: dict[str, Any], outputs: list[str]) -> Job:
        job = Job(
            id=uuid.uuid4().hex,
            model=model,
            input=data,
            outputs=outputs,
            queue_position=self.queue_position,
            logs=self.logs,
            ready_at=time.monotonic() + self.delay,
            released=self._jobs_released,
            error=self.job_error,
        )
        with self._changed:
            self.jobs[job.id] = job
            self._changed.notify_all()
        return job

    def cancel_job(self, job: Job) -> bool:
        """Cancel `job` unless it has finished; says whether it was cancelled."""
        with self._changed:
            if job.is_finished:
                return False
            job.cancelled = True
            self._changed.notify_all()
            return True

    def poll(self, job: Job) -> Phase:
        """A status call on `job`: moves it one step along and says where it is."""
        with self._changed:
            job.polls += 1
            self._changed.notify_all()
            return job.phase

    def image_url(
        self, width: int, height: int, image_format: str, *, colour: Colour | None = None
    ) -> str:
        """The URL of a result image this fake serves (rendered when first fetched), of one
        colour: `colour`, or the next of `COLOURS`."""
        name = f"{uuid.uuid4().hex}.{image_format}"
        with self._changed:
            self._files[name] = (width, height, image_format, colour or self._next_colour())
        return f"{self.url}/files/{name}"

    def store_input(self, url: str, content_type: str, data: bytes) -> None:
        with self._changed:
            self.inputs[url] = (content_type, data)
            self._changed.notify_all()

    def inline_input(self, ref: Any) -> Any:
        """An input image as the fakes read it: an upload to this fake becomes the data URI of
        its bytes, anything else (a data URI, another URL) is returned as it is."""
        stored = self.inputs.get(ref) if isinstance(ref, str) else None
        if stored is None:
            return ref
        content_type, data = stored
        return f"data:{content_type};base64,{base64.b64encode(data).decode()}"

    def image_bytes(
        self, width: int, height: int, image_format: str, *, colour: Colour | None = None
    ) -> bytes:
        return self._render((width, height, image_format, colour or self._next_colour()))

    def image_data_uri(
        self, width: int, height: int, image_format: str, *, colour: Colour | None = None
    ) -> str:
        data = self.image_bytes(width, height, image_format, colour=colour)
        return f"data:{CONTENT_TYPES[image_format]};base64,{base64.b64encode(data).decode()}"

    # Serving

    def _serve(self, handler: "_Handler") -> None:
        request = _read(handler)
        route, groups = self._match(request)
        request = replace(request, route=route.name if route else "")
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()
        try:
            reply = self._respond(request, route, groups)
        except Exception:  # a bug in the fake: answer 500, fail the test when the fake stops
            self.crashes.append(traceback.format_exc())
            reply = Reply(500, b"The fake crashed", content_type="text/plain")
        handler.reply(reply)
        with self._changed:
            self._changed.notify_all()

    def _match(self, request: Recorded) -> tuple[Route | None, dict[str, str]]:
        for route in self._routes:
            found = route.pattern.fullmatch(request.path)
            if found and route.method == request.method:
                return route, found.groupdict()
        return None, {}

    def _respond(self, request: Recorded, route: Route | None, groups: dict[str, str]) -> Reply:
        if route is None:
            return self.error_reply(404, f"No route for {request.method} {request.path}")
        fault = self._take_fault(route.name)
        if fault is not None and fault.kind == FaultKind.HANG:
            fault.released.wait(HANG_LIMIT_SECONDS)
        elif fault is not None and fault.kind == FaultKind.MALFORMED:
            if route.name == "file":
                return Reply(200, CORRUPT_IMAGE, content_type="image/png")
            return Reply(200, MALFORMED_JSON)
        elif fault is not None and fault.kind == FaultKind.STATUS:
            if fault.body is not None:
                return json_reply(fault.status, fault.body, retry_header(fault.retry_after))
            return self.error_reply(
                fault.status, fault.message or "Scripted failure", retry_after=fault.retry_after
            )
        if not route.public and not self.authorized(request):
            return self.error_reply(401, "Invalid or missing API key")
        reply = route.handler(request, **groups)
        if fault is not None and fault.kind == FaultKind.DRIP:
            return replace(reply, drip=fault)
        return reply

    def _add_fault(self, fault: Fault) -> None:
        with self._changed:
            self._faults.append(fault)

    def _take_fault(self, route: str) -> Fault | None:
        with self._changed:
            for fault in self._faults:
                if fault.on in (None, route):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    if fault.kind in (FaultKind.HANG, FaultKind.DRIP):
                        self._hung.append(fault)
                    return fault
        return None

    def _file(self, request: Recorded, name: str) -> Reply:
        spec = self._files.get(name)
        if spec is None:
            return Reply(404, b"Not Found", content_type="text/plain")
        return Reply(200, self._render(spec), content_type=CONTENT_TYPES[spec[2]])

    def _next_colour(self) -> Colour:
        return COLOURS[next(self._counter) % len(COLOURS)]

    def _render(self, spec: ImageSpec) -> bytes:
        """A real image of the spec's size, format and colour."""
        if spec not in self._rendered:
            width, height, image_format, colour = spec
            out = io.BytesIO()
            mode = "RGBA" if len(colour) == 4 else "RGB"
            Image.new(mode, (width, height), colour).save(out, format=PILLOW_FORMATS[image_format])
            self._rendered[spec] = out.getvalue()
        return self._rendered[spec]


def retry_header(retry_after: str | None) -> dict[str, str]:
    return {"Retry-After": retry_after} if retry_after is not None else {}


def _read(handler: "_Handler") -> Recorded:
    split = urlsplit(handler.path)
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    headers = {name.lower(): value for name, value in handler.headers.items()}
    content_type = headers.get("content-type", "")
    parsed = None
    form: tuple[FormPart, ...] = ()
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
    elif content_type.startswith("multipart/form-data"):
        form = _multipart(content_type, body)
    return Recorded(
        route="",
        method=handler.command,
        path=split.path,
        query=dict(parse_qsl(split.query)),
        headers=headers,
        body=body,
        json=parsed,
        form=form,
    )


def _multipart(content_type: str, body: bytes) -> tuple[FormPart, ...]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return tuple(
        FormPart(
            name=part.get_param("name", header="content-disposition") or "",
            filename=part.get_filename(),
            content_type=part.get_content_type(),
            data=part.get_payload(decode=True) or b"",
        )
        for part in message.iter_parts()
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # benchmarks open many connections at once

    def handle_error(self, request: object, client_address: object) -> None:
        """A client that went away (after a timeout) is expected; anything else is printed."""
        if not isinstance(sys.exception(), ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real providers do
    disable_nagle_algorithm = True  # small answers leave at once, not after a delayed ACK

    def dispatch(self) -> None:
        raise NotImplementedError

    def do_GET(self) -> None:
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_GET

    def reply(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.drip is None:
            self.wfile.write(reply.body)
            return
        deadline = time.monotonic() + HANG_LIMIT_SECONDS
        for index in range(len(reply.body)):
            if reply.drip.released.wait(reply.drip.every) or time.monotonic() > deadline:
                self.wfile.write(reply.body[index:])
                return
            self.wfile.write(reply.body[index : index + 1])
            self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake records requests instead of printing them."""
