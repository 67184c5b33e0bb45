"""The floor: the least that a gateway on this stack does for an API generation.

An ASGI app with no Django, no database and no ledger, served by the same uvicorn. It sends the
request to the provider through the gateway's own pooled client (`providers/clients.py`),
decodes the image, writes it to disk off the event loop and answers with its URL. Targets 1
and 2 send their load to it as well as to the gateway (`overhead.py`, `concurrency.py`), so that
each figure can be read against what no code of the gateway's could go below on this machine.

    uvicorn bench.floor:app    (OPENAI_UPSTREAM_BASE_URL, OPENAI_UPSTREAM_API_KEY, DATA_DIR)
"""

import asyncio
import base64
import json
import os
import time
import uuid
from pathlib import Path

from playground.providers.clients import client_for

UPSTREAM = os.environ.get("OPENAI_UPSTREAM_BASE_URL", "")
API_KEY = os.environ.get("OPENAI_UPSTREAM_API_KEY", "")
MEDIA = Path(os.environ.get("DATA_DIR", ".")) / "floor"


async def app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    answer = await _generate(json.loads(body)) if scope["method"] == "POST" else {}
    payload = json.dumps(answer).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(payload))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _generate(request: dict) -> dict:
    response = await client_for("floor").post(
        f"{UPSTREAM}/images/generations",
        json={
            "model": request["model"],
            "prompt": request["prompt"],
            "size": request["size"],
            "response_format": "b64_json",
        },
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    response.raise_for_status()
    name = await asyncio.to_thread(_store, base64.b64decode(response.json()["data"][0]["b64_json"]))
    return {"created": int(time.time()), "data": [{"url": f"/media/floor/{name}"}]}


def _store(data: bytes) -> str:
    MEDIA.mkdir(parents=True, exist_ok=True)
    name = f"{uuid.uuid4().hex}.png"
    (MEDIA / name).write_bytes(data)
    return name
