"""Target 4, conversion: time to convert a 1024x1024 PNG to JPEG, WebP and AVIF, and whether
conversions running in the gateway slow down a cheap request.

1. The gateway's own conversion (`playground.gateway.images.encode`) on a photo-like PNG, timed
   in this process, one image at a time.
2. The site with the fake OpenAI provider answering photo-like PNGs: a probe sends GET /v1/models
   one after the other, first alone, then while 20 clients keep asking for AVIF (which the
   OpenAI adapter asks as PNG, so the gateway converts every image).
"""

import argparse
import asyncio
import statistics
import time

from common import (
    LOGS,
    PROMPT,
    Connection,
    Row,
    Target,
    closed_loop,
    failures,
    fake,
    finish,
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

P99_LIMIT = 0.050
FORMATS = ("jpeg", "webp", "avif")


def encode_times(repeat: int) -> dict[str, tuple[float, int]]:
    """Median seconds and output bytes per format, converting one image at a time."""
    from playground.gateway.images import encode

    source = photo_like(1024, 1024, "png")
    times = {}
    for output_format in FORMATS:
        seconds = []
        for _ in range(repeat):
            started = time.perf_counter()
            encoded = encode(source, output_format=output_format)
            seconds.append(time.perf_counter() - started)
        times[output_format] = (statistics.median(seconds), len(encoded.data))
    return times


async def probe(target: Target, *, seconds: float, gap: float = 0.01) -> list:
    connection = Connection(*target.address)
    samples = []
    deadline = time.perf_counter() + seconds
    try:
        while time.perf_counter() < deadline:
            samples.append(await timed(connection, target, 10))
            await asyncio.sleep(gap)
    finally:
        connection.close()
    return samples


async def drive(site: str, key: str, *, clients: int, seconds: float):
    auth = {"Authorization": f"Bearer {key}"}
    models = Target(site, "/v1/models", method="GET", headers=auth)
    body = {"model": "qwen-image", "prompt": PROMPT, "size": "1024x1024", "output_format": "avif"}
    convert = Target(site, "/v1/images/generations", body=body, headers=auth)
    await closed_loop(models, clients=1, requests=20)  # warm up
    await closed_loop(convert, clients=2, requests=2)
    alone = await probe(models, seconds=seconds / 2)
    loaded, conversions = await asyncio.gather(
        probe(models, seconds=seconds),
        closed_loop(convert, clients=clients, seconds=seconds, timeout=120),
    )
    return alone, loaded, conversions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds the provider takes")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = encode_times(args.repeat)
    with stack("conversion") as running:
        upstream = fake(running, "openai", delay=args.delay, textured=True)
        env = site_env(running, **upstream.env)
        key = prepare(env, openai_offering=True)
        site = uvicorn(running, env)
        alone, loaded, conversions = asyncio.run(
            drive(site, key, clients=args.clients, seconds=args.seconds)
        )
    rows = [
        Row(f"PNG -> {name.upper()}, one image", f"{ms(seconds)} ({size // 1024} KB)")
        for name, (seconds, size) in times.items()
    ]
    quiet, busy, work = summary(alone), summary(loaded), summary(conversions)
    rows += [
        Row("GET /v1/models alone: p50 / p99", f"{ms(quiet['p50'])} / {ms(quiet['p99'])}"),
        Row("... during conversions: p50", ms(busy["p50"])),
        Row(
            "... during conversions: p99",
            ms(busy["p99"]),
            f"<= {ms(P99_LIMIT)}",
            busy["p99"] <= P99_LIMIT,
        ),
        Row("... probes (failed)", f"{busy['count']} ({busy['failed']})", "0", not busy["failed"]),
        Row(
            "AVIF generations done (failed)",
            f"{work['count']} ({work['failed']})",
            "0",
            not work["failed"],
        ),
        Row("AVIF generation p50 (incl. provider)", ms(work["p50"])),
    ]
    notes = [
        f"Photo-like 1024x1024 PNG (~2 MB); encode at the gateway's default quality 90, median of "
        f"{args.repeat}. Load: {args.clients} clients asking for AVIF, provider delay "
        f"{args.delay:g} s, {args.seconds:g} s.",
        f"Failures: probe {failures(loaded)}, conversions {failures(conversions)}. "
        f"Process logs: {LOGS / 'conversion'}/.",
    ]
    finish(table("Target 4: format conversion off the event loop", rows, notes))


if __name__ == "__main__":
    main()
