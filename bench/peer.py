"""Target 5, against a peer: this gateway and LiteLLM's proxy in front of the same fake
OpenAI-compatible upstream, the same requests through both, interleaved in one run.

LiteLLM runs from its own venv (bench/.venv-litellm, see requirements-litellm.txt) with a master
key and no database, one uvicorn worker like the gateway. Each round sends the load directly to
the fake, then through the gateway, then through LiteLLM; added latency = proxy - direct. The
gateway also stores every image and writes the ledger; LiteLLM passes the upstream's URL on.
"""

import argparse
import asyncio
import os

from common import (
    BENCH,
    HOST,
    LOGS,
    PROMPT,
    Row,
    Target,
    failures,
    fake,
    finish,
    free_port,
    in_turns,
    ms,
    prepare,
    site_env,
    stack,
    summary,
    table,
    uvicorn,
    wait_until_up,
)

LITELLM = BENCH / ".venv-litellm" / "bin" / "litellm"
MASTER_KEY = "sk-bench-litellm-master"
CONFIG = """\
model_list:
  - model_name: qwen-image
    litellm_params:
      model: openai/qwen-image
      api_base: {base_url}
      api_key: {api_key}
general_settings:
  master_key: {master_key}
litellm_settings:
  telemetry: false
"""
SIDES = ("direct", "gateway", "litellm")


def litellm(running, upstream) -> str:
    if not LITELLM.exists():
        raise SystemExit(
            f"{LITELLM} is missing: python3.13 -m venv bench/.venv-litellm && "
            "bench/.venv-litellm/bin/pip install -r bench/requirements-litellm.txt"
        )
    config = running.workdir / "litellm.yaml"
    config.write_text(
        CONFIG.format(
            base_url=upstream.env["OPENAI_UPSTREAM_BASE_URL"],
            api_key=upstream.api_key,
            master_key=MASTER_KEY,
        )
    )
    port = free_port()
    env = os.environ | {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR"}
    args = [str(LITELLM), "--config", str(config), "--host", HOST, "--port", str(port)]
    process = running.start("litellm", [*args, "--num_workers", "1"], env=env)
    url = f"http://{HOST}:{port}"
    wait_until_up(url + "/health/liveliness", process, timeout=180)
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the provider takes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="per side, load and round")
    args = parser.parse_args()
    body = {"model": "qwen-image", "prompt": PROMPT, "size": "1024x1024"}
    with stack("peer") as running:
        upstream = fake(running, "openai", delay=args.delay)
        env = site_env(running, **upstream.env)
        key = prepare(env, openai_offering=True)
        targets = {
            "direct": Target(
                upstream.env["OPENAI_UPSTREAM_BASE_URL"],
                "/images/generations",
                body=body | {"model": "qwen-image"},
                headers={"Authorization": f"Bearer {upstream.api_key}"},
            ),
            "gateway": Target(
                uvicorn(running, env),
                "/v1/images/generations",
                body=body,
                headers={"Authorization": f"Bearer {key}"},
            ),
            "litellm": Target(
                litellm(running, upstream),
                "/v1/images/generations",
                body=body,
                headers={"Authorization": f"Bearer {MASTER_KEY}"},
            ),
        }
        results = {
            clients: asyncio.run(
                in_turns(targets, rounds=args.rounds, seconds=args.seconds, clients=clients)
            )
            for clients in (1, 50)
        }
    report(results, args)


def report(results: dict, args) -> None:
    rows, notes = [], []
    for clients, samples in results.items():
        stats = {side: summary(samples[side]) for side in SIDES}
        label = "one at a time" if clients == 1 else f"{clients} concurrent"
        for side in SIDES:
            s = stats[side]
            rows.append(
                Row(
                    f"{label}: {side} p50 / p99 (n, failed)",
                    f"{ms(s['p50'])} / {ms(s['p99'])} ({s['count']}, {s['failed']})",
                    "0 failed",
                    not s["failed"],
                )
            )
        for q in ("p50", "p99"):
            ours = stats["gateway"][q] - stats["direct"][q]
            theirs = stats["litellm"][q] - stats["direct"][q]
            rows.append(
                Row(
                    f"{label}: added {q}, gateway vs LiteLLM",
                    f"{ms(ours)} vs {ms(theirs)}",
                    "gateway < LiteLLM",
                    ours < theirs,
                )
            )
        notes.append(
            f"{label} failures: "
            + ", ".join(f"{side} {failures(samples[side])}" for side in SIDES)
            + "."
        )
    notes.insert(
        0,
        f"Provider delay {args.delay:g} s; {args.rounds} interleaved rounds of {args.seconds:g} s "
        "per side. Same request body (url response) through both; the gateway stores the image "
        f"and keeps the ledger, LiteLLM forwards the upstream's URL. Logs: {LOGS / 'peer'}/.",
    )
    finish(table("Target 5: this gateway vs LiteLLM proxy", rows, notes))


if __name__ == "__main__":
    main()
