"""Target 1, overhead: what the gateway adds to a call of the provider, at 50 concurrent clients.

The same fake OpenAI-compatible provider (each job takes --delay seconds) is called directly,
with the very body the gateway sends it, and through the gateway (POST /v1/images/generations,
url response, PNG so nothing is converted). The phases alternate, so drifting noise of the
machine falls on both sides alike. Added latency = gateway percentile - direct percentile.
"""

import argparse
import asyncio

from common import (
    PROMPT,
    Row,
    Target,
    closed_loop,
    failures,
    fake,
    finish,
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


async def drive(direct: Target, gateway: Target, *, clients: int, rounds: int, seconds: float):
    await closed_loop(gateway, clients=clients, requests=clients * 2)  # warm up
    await closed_loop(direct, clients=clients, requests=clients)
    sides = {"direct": [], "gateway": []}
    for _ in range(rounds):
        sides["direct"] += await closed_loop(direct, clients=clients, seconds=seconds)
        sides["gateway"] += await closed_loop(gateway, clients=clients, seconds=seconds)
    return sides


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
        direct, gateway = targets(site, key, upstream)
        sides = asyncio.run(
            drive(direct, gateway, clients=args.clients, rounds=args.rounds, seconds=args.seconds)
        )
    report(sides, args)


def report(sides: dict, args) -> None:
    direct, gateway = summary(sides["direct"]), summary(sides["gateway"])
    added = {q: gateway[q] - direct[q] for q in ("p50", "p90", "p99")}
    rows = [
        Row(
            f"{side}: requests (failed)",
            f"{s['count']} ({s['failed']})",
            "0 failed",
            not s["failed"],
        )
        for side, s in (("direct", direct), ("gateway", gateway))
    ]
    for q in ("p50", "p90", "p99"):
        rows.append(Row(f"{q}: direct / gateway", f"{ms(direct[q])} / {ms(gateway[q])}"))
    rows += [
        Row("added p50", ms(added["p50"]), "<= 5 ms", added["p50"] <= 0.005),
        Row("added p90", ms(added["p90"])),
        Row("added p99", ms(added["p99"]), "<= 25 ms", added["p99"] <= 0.025),
        Row("ratio p50 (gateway / direct)", f"{gateway['p50'] / direct['p50']:.4f}"),
        Row("ratio p99 (gateway / direct)", f"{gateway['p99'] / direct['p99']:.4f}"),
    ]
    notes = [
        f"{args.clients} clients, provider delay {args.delay:g} s, {args.rounds} rounds of "
        f"{args.seconds:g} s per side. Failures: direct {failures(sides['direct'])}, "
        f"gateway {failures(sides['gateway'])}."
    ]
    finish(table("Target 1: gateway overhead at 50 concurrent clients", rows, notes))


if __name__ == "__main__":
    main()
