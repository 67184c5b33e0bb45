"""Target 3, emulated n: n=4 from a provider that makes one image per call, against n=1.

The Replicate fake of tests/fakes (one image per prediction, each taking --delay seconds, answered
within the create call through `Prefer: wait`) is the only provider configured, so the gateway makes
four parallel calls for n=4, then fetches, checks and stores four photo-like PNGs. Requests go one
at a time, n=1 and n=4 alternating.
"""

import argparse
import asyncio

from common import (
    LOGS,
    PROMPT,
    Connection,
    Row,
    Target,
    failures,
    fake,
    finish,
    prepare,
    site_env,
    stack,
    summary,
    table,
    timed,
    uvicorn,
)

RATIO_LIMIT = 1.2


async def drive(site: str, key: str, *, rounds: int) -> dict[int, list]:
    def target(n: int) -> Target:
        body = {"model": "qwen-image", "prompt": PROMPT, "size": "1024x1024", "n": n}
        return Target(
            site, "/v1/images/generations", body=body, headers={"Authorization": f"Bearer {key}"}
        )

    connection = Connection(*target(1).address)
    samples = {1: [], 4: []}
    try:
        await timed(connection, target(4), 60)  # warm up
        for _ in range(rounds):
            for n in (1, 4):
                samples[n].append(await timed(connection, target(n), 60))
    finally:
        connection.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds the provider takes")
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    with stack("emulated_n") as running:
        upstream = fake(running, "replicate", delay=args.delay, textured=True)
        env = site_env(running, **upstream.env)
        key = prepare(env)
        site = uvicorn(running, env)
        samples = asyncio.run(drive(site, key, rounds=args.rounds))
    one, four = summary(samples[1]), summary(samples[4])
    ratio = four["p50"] / one["p50"]
    rows = [
        Row("n=1: requests (failed)", f"{one['count']} ({one['failed']})", "0", not one["failed"]),
        Row(
            "n=4: requests (failed)", f"{four['count']} ({four['failed']})", "0", not four["failed"]
        ),
        Row("n=1: p50 / max", f"{one['p50'] * 1000:.0f} / {one['max'] * 1000:.0f} ms"),
        Row("n=4: p50 / max", f"{four['p50'] * 1000:.0f} / {four['max'] * 1000:.0f} ms"),
        Row("n=4 / n=1 (p50)", f"{ratio:.3f}x", f"<= {RATIO_LIMIT}x", ratio <= RATIO_LIMIT),
        Row("n=4 / n=1 (max)", f"{four['max'] / one['max']:.3f}x"),
    ]
    notes = [
        f"Replicate fake, one image per call, {args.delay:g} s a prediction, photo-like 1024x1024 "
        f"PNG results; {args.rounds} requests of each, one at a time.",
        f"Failures: n=1 {failures(samples[1])}, n=4 {failures(samples[4])}. "
        f"Process logs: {LOGS / 'emulated_n'}/.",
    ]
    finish(table("Target 3: emulated n (n=4 vs n=1)", rows, notes))


if __name__ == "__main__":
    main()
