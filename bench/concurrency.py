"""Target 2, concurrency: 1,000 API generations at once against a provider that answers after 10 s.

Every request has its own connection and they are all sent together; the run ends when the last
one is answered. Resident memory of every uvicorn worker is sampled every 50 ms. With one worker,
the same load first goes to the floor (`floor.py`: uvicorn and the gateway's httpx client, with
no Django, database or ledger), whose wall time is what no gateway on this stack could go below.

    python bench/concurrency.py              one ASGI worker, SQLite
    python bench/concurrency.py --scale-out  two ASGI workers on PostgreSQL and Redis
    python bench/concurrency.py --stream     the same, each generation streamed (server-sent
                                             events, keep-alive lines while waiting); no floor
"""

import argparse
import asyncio
import time
from dataclasses import replace

from common import (
    LOGS,
    PROMPT,
    PeakRss,
    Row,
    Sample,
    Target,
    at_once,
    failures,
    fake,
    finish,
    prepare,
    scale_out,
    site_env,
    stack,
    summary,
    table,
    uvicorn,
)

WALL_LIMIT = 13.0
RSS_LIMIT_MB = 500.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=10.0, help="seconds the provider takes")
    parser.add_argument("--scale-out", action="store_true")
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    workers = 2 if args.scale_out else 1
    with stack("concurrency") as running:
        upstream = fake(running, "openai", delay=args.delay)
        env = site_env(running, **(scale_out() if args.scale_out else {}), **upstream.env)
        key = prepare(env, openai_offering=True)
        site = uvicorn(running, env, workers=workers)
        server = running.processes[-1]
        body = {"model": "qwen-image", "prompt": PROMPT, "size": "1024x1024"}
        target = Target(
            site,
            "/v1/images/generations",
            body=body | ({"stream": True, "response_format": "b64_json"} if args.stream else {}),
            headers={"Authorization": f"Bearer {key}"},
            expect=b"event: image_generation.completed" if args.stream else b"",
        )
        with_floor = not (args.scale_out or args.stream)
        floor_wall = run_floor(running, env, target, args.requests) if with_floor else None
        warm_up(target)
        pids = (lambda: server.workers()) if workers > 1 else (lambda: [server.pid])
        with PeakRss(pids) as rss:
            samples, wall = timed(target, args.requests)
    report(samples, wall, rss.peak, args, workers, floor_wall)


def run_floor(running, env: dict, target: Target, requests: int) -> str:
    """The floor's wall time for the same load, and its failures."""
    floor = replace(target, url=uvicorn(running, env, name="floor", app="bench.floor:app"))
    warm_up(floor)
    samples, wall = timed(floor, requests)
    return f"{wall:.2f} s ({summary(samples)['failed']} failed)"


def warm_up(target: Target) -> None:
    """A few requests first: imports, first connections."""
    asyncio.run(at_once(target, count=4, timeout=60))


def timed(target: Target, count: int) -> tuple[list[Sample], float]:
    """`count` requests at once: their samples, and the wall time from first sent to last
    answered."""
    started = time.perf_counter()
    samples = asyncio.run(at_once(target, count=count, timeout=60))
    return samples, time.perf_counter() - started


def report(
    samples, wall: float, peak: dict[int, float], args, workers: int, floor_wall: str | None
) -> None:
    stats = summary(samples)
    limit = args.delay + (WALL_LIMIT - 10.0)
    rows = [
        Row("requests sent together", str(args.requests)),
        Row("failed", str(stats["failed"]), "0", stats["failed"] == 0),
        Row(
            "wall time, first sent to last answered",
            f"{wall:.2f} s",
            f"<= {limit:g} s",
            wall <= limit,
        ),
        *([Row("floor: wall time", floor_wall)] if floor_wall is not None else []),
        Row(
            "latency p50 / p99 / max",
            f"{stats['p50']:.2f} / {stats['p99']:.2f} / {stats['max']:.2f} s",
        ),
    ]
    for index, mb in enumerate(peak.values()):
        rows.append(
            Row(
                f"peak RSS, worker {index + 1}",
                f"{mb:.0f} MB",
                f"< {RSS_LIMIT_MB:g} MB",
                mb < RSS_LIMIT_MB,
            )
        )
    setup = "PostgreSQL + Redis" if args.scale_out else "SQLite, local-memory cache"
    notes = [
        f"{workers} uvicorn worker(s), {setup}; provider delay {args.delay:g} s.",
        f"Failures: {failures(samples)}. Process logs: {LOGS / 'concurrency'}/.",
    ]
    title = "Target 2: 1,000 concurrent " + ("streams" if args.stream else "generations")
    title += " (scale-out)" if args.scale_out else ""
    finish(table(title, rows, notes))


if __name__ == "__main__":
    main()
