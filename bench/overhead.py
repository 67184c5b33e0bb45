"""Target 1, overhead: what the gateway adds to a call of the provider, at 50 concurrent clients.

The same fake OpenAI-compatible provider (each job takes --delay seconds) is called directly,
with the very body the gateway sends it, through the floor (`floor.py`: uvicorn and the
gateway's httpx client, with no Django, database or ledger) and through the gateway (POST
/v1/images/generations, url response, PNG so nothing is converted), in turns. Added latency =
percentile - direct percentile.
"""

import argparse
import asyncio
from dataclasses import replace

from common import (
    PROMPT,
    Row,
    Target,
    failures,
    fake,
    finish,
    in_turns,
    ms,
    prepare,
    site_env,
    stack,
    summary,
    table,
    uvicorn,
)


def targets(site: str, key: str, upstream) -> tuple[Target, Target]:
    gateway = Target(
        site,
        "/v1/images/generations",
        body={"model": "qwen-image", "prompt": PROMPT, "size": "1024x1024"},
        headers={"Authorization": f"Bearer {key}"},
    )
    direct = Target(  # what the openai adapter sends upstream for that request
        upstream.env["OPENAI_UPSTREAM_BASE_URL"],
        "/images/generations",
        body={
            "prompt": PROMPT,
            "size": "1024x1024",
            "seed": 7,
            "n": 1,
            "output_format": "png",
            "model": "qwen-image",
            "response_format": "b64_json",
        },
        headers={"Authorization": f"Bearer {upstream.api_key}"},
    )
    return direct, gateway


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--delay", type=float, default=1.0, help="seconds the provider takes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per side and round")
    args = parser.parse_args()
    with stack("overhead") as running:
        upstream = fake(running, "openai", delay=args.delay)
        env = site_env(running, **upstream.env)
        key = prepare(env, openai_offering=True)
        site = uvicorn(running, env)
        floor = uvicorn(running, env, name="floor", app="bench.floor:app")
        direct, gateway = targets(site, key, upstream)
        sides = asyncio.run(
            in_turns(
                {"direct": direct, "floor": replace(gateway, url=floor), "gateway": gateway},
                clients=args.clients,
                rounds=args.rounds,
                seconds=args.seconds,
            )
        )
    report(sides, args)


def report(sides: dict, args) -> None:
    stats = {side: summary(samples) for side, samples in sides.items()}
    direct, floor, gateway = stats["direct"], stats["floor"], stats["gateway"]
    added = {q: gateway[q] - direct[q] for q in ("p50", "p90", "p99")}
    rows = [
        Row(
            f"{side}: requests (failed)",
            f"{s['count']} ({s['failed']})",
            "0 failed",
            not s["failed"],
        )
        for side, s in stats.items()
    ]
    for q in ("p50", "p90", "p99"):
        rows.append(
            Row(
                f"{q}: direct / floor / gateway",
                f"{ms(direct[q])} / {ms(floor[q])} / {ms(gateway[q])}",
            )
        )
    rows += [
        Row("added p50", ms(added["p50"]), "<= 5 ms", added["p50"] <= 0.005),
        Row("added p90", ms(added["p90"])),
        Row("added p99", ms(added["p99"]), "<= 25 ms", added["p99"] <= 0.025),
        Row(
            "floor: added p50 / p99",
            f"{ms(floor['p50'] - direct['p50'])} / {ms(floor['p99'] - direct['p99'])}",
        ),
        Row("ratio p50 (gateway / direct)", f"{gateway['p50'] / direct['p50']:.4f}"),
        Row("ratio p99 (gateway / direct)", f"{gateway['p99'] / direct['p99']:.4f}"),
    ]
    notes = [
        f"{args.clients} clients, provider delay {args.delay:g} s, {args.rounds} rounds of "
        f"{args.seconds:g} s per side. Failures: "
        + ", ".join(f"{side} {failures(samples)}" for side, samples in sides.items())
        + ".",
        "The floor is uvicorn and the gateway's httpx client with no Django, database or "
        "ledger (floor.py): what any gateway on this stack adds on this machine.",
    ]
    finish(table("Target 1: gateway overhead at 50 concurrent clients", rows, notes))


if __name__ == "__main__":
    main()
