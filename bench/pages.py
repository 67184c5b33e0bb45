"""Target 6, pages: /models/, a model page and /playground/ render fast, with a number of
queries that does not grow with the data, and the playground ships little JavaScript.

Latency: one client, one request after the other, anonymous and logged in (a user with a
history of generations). Queries: counted inside Django (bench/inside.py) with a history of 10
and of 60 generations; the count must not change. JavaScript: every <script src> of
/playground/, as served (also gzip-compressed, for the record).
"""

import argparse
import asyncio
import gzip
import re

from common import (
    HOST,
    LOGS,
    Connection,
    Row,
    Target,
    closed_loop,
    finish,
    inside,
    ms,
    prepare,
    site_env,
    stack,
    summary,
    table,
    uvicorn,
)

PAGES = ("/models/", "/models/qwen-image/", "/playground/")
P50_LIMIT = 0.020
JS_LIMIT = 60 * 1024
USER = "pages"


async def latencies(site: str, cookie: str, *, requests: int) -> dict[str, list]:
    found = {}
    for who, headers in (("anonymous", {}), ("logged in", {"Cookie": f"sessionid={cookie}"})):
        for path in PAGES:
            target = Target(site, path, method="GET", headers=headers)
            await closed_loop(target, clients=1, requests=10)  # warm up
            found[f"{path} {who}"] = await closed_loop(target, clients=1, requests=requests)
    return found


async def javascript(site: str, cookie: str) -> list[tuple[str, int, int]]:
    """(src, bytes, gzip bytes) of every script /playground/ loads."""
    port = int(site.rsplit(":", 1)[1])
    connection = Connection(HOST, port)
    try:
        headers = {"Cookie": f"sessionid={cookie}"}
        _, _, page = await connection.request("GET", "/playground/", headers=headers)
        scripts = []
        for src in re.findall(rb"<script[^>]*\ssrc=\"([^\"]+)\"", page):
            _, _, body = await connection.request("GET", src.decode(), headers=headers)
            scripts.append((src.decode(), len(body), len(gzip.compress(body))))
        return scripts
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=100, help="per page and visitor")
    args = parser.parse_args()
    with stack("pages") as running:
        env = site_env(running)
        prepare(env)
        inside(env, "history", USER, "10")
        few = inside(env, "queries", USER, *PAGES)
        inside(env, "history", USER, "50")
        many = inside(env, "queries", USER, *PAGES)
        cookie = inside(env, "session", USER)["sessionid"]
        site = uvicorn(running, env)
        found = asyncio.run(latencies(site, cookie, requests=args.requests))
        scripts = asyncio.run(javascript(site, cookie))
    rows = []
    for name, samples in found.items():
        stats = summary(samples)
        rows.append(
            Row(
                f"{name}: p50 (p99)",
                f"{ms(stats['p50'])} ({ms(stats['p99'])})" + (" FAILED" if stats["failed"] else ""),
                f"<= {ms(P50_LIMIT)}",
                stats["p50"] <= P50_LIMIT and not stats["failed"],
            )
        )
    for page, (status, count) in few.items():
        _, count_many = many[page]
        rows.append(
            Row(
                f"queries {page} (history 10 / 60)",
                f"{count} / {count_many}" + ("" if status == 200 else f" (status {status})"),
                "the same",
                count == count_many and status == 200,
            )
        )
    total = sum(size for _, size, _ in scripts)
    zipped = sum(size for _, _, size in scripts)
    rows.append(
        Row(
            "JavaScript on /playground/ (gzip)",
            f"{total / 1024:.1f} KB ({zipped / 1024:.1f} KB)",
            f"<= {JS_LIMIT // 1024} KB",
            total <= JS_LIMIT,
        )
    )
    notes = [
        f"{args.requests} requests per page and visitor, one at a time, DEBUG off. Scripts: "
        + ", ".join(f"{src} {size / 1024:.1f} KB" for src, size, _ in scripts)
        + f". Logs: {LOGS / 'pages'}/."
    ]
    finish(table("Target 6: pages", rows, notes))


if __name__ == "__main__":
    main()
