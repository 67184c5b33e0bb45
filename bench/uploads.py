"""Uploads (issue 25): what a hostile or heavy edit costs the site, and whether it slows down
another user.

1. Refusal: an edit of 15 photos of 40 megapixels (JPEG, ~4 MB each) and one text file, sent
   one after the other; the time from sending to the 400, and the same for one small bad file
   (the upload itself, alone). Before issue 25 every photo was decoded first. In this process:
   what the site's check of those 16 files costs (`images.read_input`), beside one decode.
2. Flood: user `bench` keeps `--flooders` clients sending edits of two such photos (within the
   limits: they are made); user `other` sends small generations (qwen-image, 256x256, the demo
   provider) one after the other, first alone, then during the flood; their latency.
"""

import argparse
import asyncio
import contextlib
import io
import statistics
import time
import uuid

from common import (
    LOGS,
    Connection,
    Row,
    Sample,
    Target,
    closed_loop,
    finish,
    manage,
    ms,
    photo_like,
    prepare,
    site_env,
    stack,
    summary,
    table,
    timed,
    uvicorn,
)

EDIT_MODEL = "qwen-image-edit-plus"
PHOTO = (6000, 6600)  # 39.6 megapixels
FLOOD_P99_LIMIT = 1.0  # 1.9 s before issue 25 on the bench machine, 0.18 s after
TEXT = b"These are my notes, not an image.\n" * 100


def big_photo() -> bytes:
    from PIL import Image

    small = Image.open(io.BytesIO(photo_like(PHOTO[0] // 4, PHOTO[1] // 4)))
    out = io.BytesIO()
    small.resize(PHOTO).save(out, format="JPEG", quality=85)
    return out.getvalue()


def check_seconds(photo: bytes) -> tuple[float, float]:
    """Reading the headers of the 15 photos and the text file, and decoding one photo."""
    from playground.gateway import images

    with contextlib.suppress(images.CorruptImage):
        images.read_input(TEXT)  # loads Pillow's plugins, as a process does once
    started = time.perf_counter()
    for data in [photo] * 15:
        images.read_input(data)
    try:
        images.read_input(TEXT)
    except images.CorruptImage:
        headers = time.perf_counter() - started
    started = time.perf_counter()
    images.decode_input(photo)
    return headers, time.perf_counter() - started


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (("model", EDIT_MODEL), ("prompt", "make it blue"))
    ]
    for index, (name, data) in enumerate(files):
        parts.append(
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="image[]"; filename="{index}-{name}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n".encode()
            + data
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


async def send(connection: Connection, site: str, key: str, files) -> Sample:
    body, content_type = multipart(files)
    target = Target(site, "/v1/images/edits")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": content_type}
    started = time.perf_counter()
    status, _, _ = await connection.request("POST", target.full_path, body, headers)
    return Sample(started, time.perf_counter() - started, status)


async def refusals(site: str, key: str, photo: bytes, repeat: int) -> dict[str, list[Sample]]:
    connection = Connection(*Target(site, "/").address)
    heavy = [*(("photo.jpg", photo) for _ in range(15)), ("notes.jpg", TEXT)]
    samples = {"heavy": [], "light": []}
    try:
        for _ in range(repeat):
            samples["heavy"].append(await send(connection, site, key, heavy))
            samples["light"].append(await send(connection, site, key, [("notes.jpg", TEXT)]))
    finally:
        connection.close()
    return samples


async def probe(target: Target, *, seconds: float) -> list[Sample]:
    connection = Connection(*target.address)
    samples = []
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            samples.append(await timed(connection, target, 60))
    finally:
        connection.close()
    return samples


async def flood(site: str, key: str, photo: bytes, *, clients: int, seconds: float) -> list:
    statuses = []

    async def client() -> None:
        connection = Connection(*Target(site, "/").address)
        deadline = time.perf_counter() + seconds
        try:
            while time.perf_counter() < deadline:
                sample = await send(connection, site, key, [("a.jpg", photo), ("b.jpg", photo)])
                statuses.append(sample.status)
                if sample.status == 429:
                    await asyncio.sleep(0.5)  # as a client honouring Retry-After, sooner
        finally:
            connection.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    return statuses


async def drive(site: str, keys: dict[str, str], photo: bytes, args) -> dict:
    small = Target(
        site,
        "/v1/images/generations",
        body={"model": "qwen-image", "prompt": "a kite", "size": "256x256"},
        headers={"Authorization": f"Bearer {keys['other']}"},
    )
    await closed_loop(small, clients=1, requests=5)  # warm up
    results = {"refusals": await refusals(site, keys["bench"], photo, args.repeat)}
    results["alone"] = await probe(small, seconds=args.seconds / 2)
    results["loaded"], results["flood"] = await asyncio.gather(
        probe(small, seconds=args.seconds),
        flood(site, keys["bench"], photo, clients=args.flooders, seconds=args.seconds),
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="refused edits of each kind")
    parser.add_argument("--flooders", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    photo = big_photo()
    headers, decode = check_seconds(photo)
    with stack("uploads") as running:
        env = site_env(running)
        keys = {"bench": prepare(env)}
        keys["other"] = (
            manage(env, "create_api_key", "other", "--credits", "1000000").strip().splitlines()[-1]
        )
        site = uvicorn(running, env)
        results = asyncio.run(drive(site, keys, photo, args))
    heavy, light = (results["refusals"][kind] for kind in ("heavy", "light"))
    alone, loaded = summary(results["alone"]), summary(results["loaded"])
    made = results["flood"].count(200)
    throttled = results["flood"].count(429)
    rows = [
        Row("check of the 16 files' headers, in-process", ms(headers), "<= 50 ms", headers <= 0.05),
        Row("... beside decoding one photo", ms(decode)),
        Row(
            "15 photos + a text file: 400 in (median)",
            ms(statistics.median(s.seconds for s in heavy)),
            "",
            all(s.status == 400 for s in heavy),
        ),
        Row("a text file alone: 400 in (median)", ms(statistics.median(s.seconds for s in light))),
        Row("small generation alone: p50 / p99", f"{ms(alone['p50'])} / {ms(alone['p99'])}"),
        Row(
            "... during the flood: p50 / p99 (failed)",
            f"{ms(loaded['p50'])} / {ms(loaded['p99'])} ({loaded['failed']})",
            f"p99 <= {ms(FLOOD_P99_LIMIT)}, 0 failed",
            loaded["p99"] <= FLOOD_P99_LIMIT and not loaded["failed"],
        ),
        Row(
            "flood edits made / 429 / other",
            f"{made} / {throttled} / {len(results['flood']) - made - throttled}",
        ),
    ]
    notes = [
        f"Photos: {PHOTO[0]}x{PHOTO[1]} JPEG, {len(photo) / 1e6:.1f} MB each; refusals: "
        f"{args.repeat} of each kind, one at a time. Flood: {args.flooders} clients of one key, "
        f"two photos per edit, {args.seconds:g} s; the probe is another user's.",
        f"Process logs: {LOGS / 'uploads'}/.",
    ]
    finish(table("Issue 25: uploads checked before any decode", rows, notes))


if __name__ == "__main__":
    main()
