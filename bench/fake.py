"""Fake providers in a process of their own, for the benchmarks.

    python bench/fake.py openai --delay 10 [--textured]
    python bench/fake.py replicate --delay 1

Prints one JSON line, the settings that point the gateway at the fake (e.g.
OPENAI_UPSTREAM_API_KEY and OPENAI_UPSTREAM_BASE_URL) plus its "url", then serves until SIGTERM or
SIGINT. `--delay` is how long each job takes; `--textured` answers photo-like pictures instead of
flat colours.

`replicate` and `fal` are the fakes of tests/fakes. `openai` is a small asyncio server speaking
the same images API as tests/fakes/openai.py (`POST /v1/images/generations` answering `b64_json`
or URLs, `GET /files/<name>`, `GET /v1/models`): that fake runs a thread per connection and cannot
hold a thousand connections open for ten seconds (see README.md), this one can.
"""

import argparse
import asyncio
import base64
import io
import json
import re
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from common import HOST, photo_like
from PIL import Image

API_KEY = "sk-openai-fake-key"
MODELS = ("qwen-image", "qwen-image-2512", "qwen-image-edit", "qwen-image-edit-plus")
FORMATS = {
    "png": ("PNG", "image/png"),
    "jpeg": ("JPEG", "image/jpeg"),
    "webp": ("WEBP", "image/webp"),
}
SIZE = re.compile(r"(\d{2,5})x(\d{2,5})")


class OpenAIImagesFake:
    def __init__(self, *, delay: float, is_textured: bool):
        self.delay = delay
        self.is_textured = is_textured
        self.images: dict[tuple[int, int, str], bytes] = {}
        self.b64: dict[tuple[int, int, str], str] = {}
        self.files: dict[str, tuple[int, int, str]] = {}  # bounded: see _remember
        self.url = ""

    def image(self, width: int, height: int, image_format: str) -> bytes:
        key = (width, height, image_format)
        if key not in self.images:
            if self.is_textured:
                data = photo_like(width, height, image_format)
            else:
                out = io.BytesIO()
                Image.new("RGB", (width, height), (60, 140, 220)).save(
                    out, format=FORMATS[image_format][0]
                )
                data = out.getvalue()
            self.images[key] = data
            self.b64[key] = base64.b64encode(data).decode()
        return self.images[key]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length") or 0))
                status, content_type, payload = await self.respond(method, target, headers, body)
                writer.write(
                    (
                        f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                        f"Content-Type: {content_type}\r\nContent-Length: {len(payload)}\r\n"
                        f"x-request-id: req_{uuid.uuid4().hex}\r\n\r\n"
                    ).encode()
                    + payload
                )
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def respond(self, method: str, target: str, headers: dict, body: bytes):
        path = target.split("?", 1)[0]
        if method == "GET" and path.startswith("/files/"):
            spec = self.files.get(path.removeprefix("/files/"))
            if spec is None:
                return 404, "text/plain", b"Not Found"
            return 200, FORMATS[spec[2]][1], self.image(*spec)
        if headers.get("authorization") != f"Bearer {API_KEY}":
            return error(401, "Invalid or missing API key", code="invalid_api_key")
        if method == "GET" and path == "/v1/models":
            data = [{"id": model, "object": "model", "owned_by": "fake"} for model in MODELS]
            return 200, "application/json", json.dumps({"object": "list", "data": data}).encode()
        if method != "POST" or path != "/v1/images/generations":
            return error(404, f"No route for {method} {path}")
        try:
            data = json.loads(body)
        except ValueError:
            return error(400, "The body is not JSON.")
        if not isinstance(data.get("prompt"), str) or not data["prompt"]:
            return error(400, "Missing required parameter: 'prompt'.", param="prompt")
        model = data.get("model", MODELS[0])
        if model not in MODELS:
            return error(404, f"The model '{model}' does not exist.", param="model")
        count = data.get("n", 1)
        size = data.get("size", "auto")
        image_format = data.get("output_format", "png")
        if not isinstance(count, int) or not 1 <= count <= 10:
            return error(400, "Invalid value for 'n'.", param="n")
        if size != "auto" and not SIZE.fullmatch(str(size)):
            return error(400, "Invalid value for 'size'.", param="size")
        if image_format not in FORMATS:
            return error(400, "Invalid value for 'output_format'.", param="output_format")
        width, height = (1024, 1024) if size == "auto" else map(int, size.split("x"))
        await asyncio.sleep(self.delay)
        self.image(width, height, image_format)
        if data.get("response_format", "url") == "url":
            items = [{"url": self._remember(width, height, image_format)} for _ in range(count)]
        else:
            items = [{"b64_json": self.b64[width, height, image_format]} for _ in range(count)]
        answer = {
            "created": int(time.time()),
            "data": items,
            "output_format": image_format,
            "size": f"{width}x{height}",
        }
        return 200, "application/json", json.dumps(answer).encode()

    def _remember(self, width: int, height: int, image_format: str) -> str:
        if len(self.files) > 100_000:
            self.files.clear()
        name = f"{uuid.uuid4().hex}.{image_format}"
        self.files[name] = (width, height, image_format)
        return f"{self.url}/files/{name}"


def error(status: int, message: str, *, param: str | None = None, code: str | None = None):
    kind = "server_error" if status >= 500 else "invalid_request_error"
    envelope = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return status, "application/json", json.dumps(envelope).encode()


async def serve_openai(delay: float, is_textured: bool) -> None:
    fake = OpenAIImagesFake(delay=delay, is_textured=is_textured)
    fake.image(1024, 1024, "png")  # drawn before the first request
    server = await asyncio.start_server(fake.handle, HOST, 0, backlog=4096, limit=2**24)
    fake.url = f"http://{HOST}:{server.sockets[0].getsockname()[1]}"
    settings = {"OPENAI_UPSTREAM_API_KEY": API_KEY, "OPENAI_UPSTREAM_BASE_URL": f"{fake.url}/v1"}
    print(json.dumps(settings | {"url": fake.url}), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    async with server:
        await stopped.wait()


def serve_test_fake(kind: str, delay: float, is_textured: bool) -> None:
    from tests.fakes.fal import FalFake
    from tests.fakes.replicate import ReplicateFake

    cls = {"replicate": ReplicateFake, "fal": FalFake}[kind]
    if is_textured:

        class Textured(cls):
            def _render(self, spec):
                key = (spec[0], spec[1], spec[2], 0)
                if key not in self._rendered:
                    self._rendered[key] = photo_like(*spec[:3])
                return self._rendered[key]

        cls = Textured
    fake = cls()
    fake.delay = delay
    fake.start()
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    print(json.dumps(fake.env | {"url": fake.url}), flush=True)
    while not stopped.wait(1.0):
        fake.requests.clear()  # a long run would otherwise keep every request it ever got
    fake.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("openai", "replicate", "fal"))
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--textured", action="store_true")
    args = parser.parse_args()
    if args.kind == "openai":
        asyncio.run(serve_openai(args.delay, args.textured))
    else:
        serve_test_fake(args.kind, args.delay, args.textured)


if __name__ == "__main__":
    main()
