"""Soak: minutes of mixed API and page traffic on loopback while the primary provider misbehaves
at random; nothing may fail beyond what was injected, nothing may grow, and the ledger must
balance to the cent at the end.

    python bench/soak.py [--seconds 300] [--clients 8] [--fault-every 0.5]

The site runs as in production (DEBUG off, uvicorn, one `manage.py run_tasks` worker) on a fresh
SQLite database, in front of two fake providers of tests/fakes running in this process: fal (the
cheaper, so tried first) gets a random fault every `--fault-every` seconds (a 500, a 429 with
Retry-After, a hang past the read timeout, malformed JSON, a result file that 404s, corrupt image
bytes, a result dripped a byte at a time); Replicate stays healthy, so every request must still
succeed, by failover. The clients mix: image API calls (sync, async with polling, edits with
uploads, invalid ones that must get a 400 in the envelope), model listings, image downloads,
catalog pages, signed-in account pages and playground jobs run by the worker.

Every few seconds the site's and the worker's resident memory, open file descriptors and open
sockets are read from /proc. At the end: every job finished, every hold settled, each charge
equal to its generation's cost, the bench user's balance equal to its grant minus the charges,
and `manage.py check_ledger` clean. Exits non-zero on an unexpected answer, on growth of memory,
descriptors or sockets in the second half of the run, or on any ledger difference.
"""

import argparse
import contextlib
import io
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from common import (
    Row,
    finish,
    inside,
    manage,
    percentile,
    prepare,
    rss_mb,
    site_env,
    stack,
    table,
    task_workers,
    uvicorn,
)

from tests.fakes.fal import FalFake
from tests.fakes.replicate import ReplicateFake

CREDITS_USD = 1_000_000
READ_TIMEOUT_SECONDS = 2  # the site's provider read timeout: a hang costs this much
SAMPLE_EVERY_SECONDS = 5.0
CLIENT_TIMEOUT_SECONDS = 60.0
DRAIN_SECONDS = 120.0
RSS_GROWTH_LIMIT_MB = 40.0
FD_GROWTH_LIMIT = 20
PAGE_USER = "soaker"
PAGES = ("/playground/", "/models/", "/models/qwen-image/", "/pricing/", "/faq/", "/docs/api/")
ACCOUNT_PAGES = ("/accounts/", "/accounts/usage/", "/playground/history/", "/accounts/api-keys/")
SIZES = ("256x256", "512x512", "320x240")
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FAULTS: dict[str, Callable[[FalFake], None]] = {
    "500 on submit": lambda fake: fake.fail_next(500, on="submit"),
    "429 Retry-After: 1": lambda fake: fake.fail_next(429, on="submit", retry_after="1"),
    "hang past the read timeout": lambda fake: fake.hang_next(on="submit"),
    "malformed JSON status": lambda fake: fake.malformed_next(on="status"),
    "result file 404": lambda fake: fake.fail_next(404, on="file"),
    "corrupt image bytes": lambda fake: fake.malformed_next(on="file"),
    "result dripped byte by byte": lambda fake: fake.drip_next(on="file", every=0.05),
}
# What the clients do, and how often (weights).
MIX = {
    "API generate": 30,
    "API generate async": 8,
    "API edit (upload)": 6,
    "API invalid (400)": 6,
    "API models": 10,
    "image download": 6,
    "catalog page": 18,
    "account page": 10,
    "playground job": 6,
}
# The SQL run inside the site at the end: what the ledger must say about every generation.
LEDGER_AUDIT = """
import json
from django.db.models import Sum
from playground.accounts.models import Account, LedgerEntry
from playground.gateway.models import Generation

unfinished = Generation.objects.exclude(status__in=["succeeded", "failed", "cancelled"]).count()
problems = []
charged = 0
for g in Generation.objects.all():
    rows = {k: 0 for k in ("hold", "release", "capture")}
    for kind, amount in g.ledger_entries.values_list("kind", "amount_micros"):
        rows[kind] = rows.get(kind, 0) + amount
    if g.is_finished and rows["hold"] + rows["release"] != 0:
        problems.append(f"{g.pk}: hold {rows['hold']} released {rows['release']}")
    if rows["capture"] != -g.cost_micros:
        problems.append(f"{g.pk}: captured {rows['capture']}, cost {g.cost_micros}")
    if g.status != "succeeded" and g.cost_micros:
        problems.append(f"{g.pk}: {g.status} but cost {g.cost_micros}")
    charged += g.cost_micros
captures = LedgerEntry.objects.filter(kind="capture").aggregate(s=Sum("amount_micros"))["s"] or 0
accounts = [
    (a.user.username, a.balance_micros, sum(a.entries.values_list("amount_micros", flat=True)))
    for a in Account.objects.select_related("user")
]
by_status = dict(Counter(Generation.objects.values_list("status", flat=True)))
print(json.dumps({
    "unfinished": unfinished, "problems": problems[:20], "problem_count": len(problems),
    "charged": charged, "captures": captures, "accounts": accounts, "by_status": by_status,
}))
""".replace("import json\n", "import json\nfrom collections import Counter\n", 1)


@dataclass
class Outcome:
    action: str
    seconds: float
    expected: bool
    detail: str = ""


@dataclass
class Sample:
    at: float
    site_rss: float
    site_fds: int
    site_sockets: int
    worker_rss: float
    worker_fds: int
    worker_sockets: int


@dataclass
class Soak:
    site: str
    api_key: str
    session: str
    deadline: float
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, action: str, started: float, expected: bool, detail: str = "") -> None:
        with self.lock:
            self.outcomes.append(Outcome(action, time.monotonic() - started, expected, detail))


# Traffic


def client_loop(soak: Soak, seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 -- a traffic mix, not secrets
    actions, weights = zip(*MIX.items(), strict=True)
    api = httpx.Client(
        base_url=f"{soak.site}/v1",
        headers={"Authorization": f"Bearer {soak.api_key}"},
        timeout=CLIENT_TIMEOUT_SECONDS,
    )
    pages = httpx.Client(base_url=soak.site, timeout=CLIENT_TIMEOUT_SECONDS)
    urls: list[str] = []
    with api, pages:
        while time.monotonic() < soak.deadline:
            action = rng.choices(actions, weights)[0]
            started = time.monotonic()
            try:
                expected, detail = ACTIONS[action](soak, api, pages, rng, urls)
            except httpx.HTTPError as exc:
                expected, detail = False, f"{type(exc).__name__}: {exc}"
            soak.record(action, started, expected, detail)


def api_generate(soak, api, pages, rng, urls) -> tuple[bool, str]:
    body = {"model": "qwen-image", "prompt": f"soak {rng.random()}", "size": rng.choice(SIZES)}
    if rng.random() < 0.2:
        body["n"] = 2
    if rng.random() < 0.2:
        body["response_format"] = "b64_json"
    response = api.post("/images/generations", json=body)
    if response.status_code == 200 and body.get("response_format") != "b64_json":
        urls.extend(item["url"] for item in response.json()["data"])
        del urls[:-20]
    return response.status_code == 200, _said(response)


def api_generate_async(soak, api, pages, rng, urls) -> tuple[bool, str]:
    response = api.post(
        "/images/generations",
        json={"model": "qwen-image", "prompt": f"later {rng.random()}", "size": "256x256"},
        headers={"Prefer": "respond-async"},
    )
    if response.status_code != 202:
        return False, _said(response)
    location = response.headers["location"].removeprefix("/v1")
    until = time.monotonic() + CLIENT_TIMEOUT_SECONDS
    while time.monotonic() < until:
        status = api.get(location)
        if status.status_code != 200:
            return False, _said(status)
        state = status.json()["status"]
        if state in ("succeeded", "failed", "cancelled"):
            return state == "succeeded", f"async job {state}"
        threading.Event().wait(0.2)
    return False, "async job still unfinished after 60 s"


def api_edit(soak, api, pages, rng, urls) -> tuple[bool, str]:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (rng.randrange(256), 80, 120)).save(out, format="PNG")
    image = out.getvalue()
    response = api.post(
        "/images/edits",
        data={"model": "qwen-image-edit", "prompt": "make it blue", "size": "256x256"},
        files=[("image", ("in.png", image, "image/png"))],
    )
    return response.status_code == 200, _said(response)


def api_invalid(soak, api, pages, rng, urls) -> tuple[bool, str]:
    body = rng.choice(
        [
            {"model": "qwen-image"},  # no prompt
            {"model": "qwen-image", "prompt": "x", "size": "99999x1"},
            {"model": "qwen-image", "prompt": "x", "n": 0},
            {"model": "qwen-image", "prompt": "a\u0000b"},
        ]
    )
    response = api.post("/images/generations", json=body)
    is_envelope = response.status_code == 400 and set(response.json().get("error", {})) == {
        "message",
        "type",
        "param",
        "code",
    }
    return is_envelope, _said(response)


def api_models(soak, api, pages, rng, urls) -> tuple[bool, str]:
    response = api.get(rng.choice(["/models", "/models/qwen-image"]))
    return response.status_code == 200, _said(response)


def image_download(soak, api, pages, rng, urls) -> tuple[bool, str]:
    if not urls:
        return api_models(soak, api, pages, rng, urls)
    response = pages.get(rng.choice(urls))
    return response.status_code == 200 and response.content[:4] == b"\x89PNG", _said(response)


def catalog_page(soak, api, pages, rng, urls) -> tuple[bool, str]:
    response = pages.get(rng.choice(PAGES))
    return response.status_code == 200, _said(response)


def account_page(soak, api, pages, rng, urls) -> tuple[bool, str]:
    response = pages.get(rng.choice(ACCOUNT_PAGES), headers=_cookies(soak.session))
    return response.status_code == 200, _said(response)


def playground_job(soak, api, pages, rng, urls) -> tuple[bool, str]:
    """The playground's form, as htmx posts it; the task worker runs the job."""
    page = pages.get("/playground/", headers=_cookies(soak.session))
    token = TOKEN.search(page.text)
    if page.status_code != 200 or not token:
        return False, _said(page)
    csrf = page.cookies.get("csrftoken") or ""
    response = pages.post(
        "/playground/generate/",
        data={
            "csrfmiddlewaretoken": token[1],
            "model": "qwen-image:generate",
            "prompt": f"playground {rng.random()}",
            "aspect_ratio": "1:1",
            "resolution": "1K",
            "n": "1",
            "output_format": "png",
        },
        headers=_cookies(soak.session, csrf) | {"HX-Request": "true"},
    )
    return response.status_code == 200 and "gen-" in response.text, _said(response)


def _cookies(session: str, csrf: str = "") -> dict[str, str]:
    """Cookies by hand: with DEBUG off they are Secure, and this loopback hop is plain HTTP."""
    cookie = f"sessionid={session}" + (f"; csrftoken={csrf}" if csrf else "")
    return {"Cookie": cookie}


def _said(response: httpx.Response) -> str:
    return f"{response.request.method} {response.url.path} -> {response.status_code} " + (
        response.text[:160] if response.status_code >= 400 else ""
    )


ACTIONS = {
    "API generate": api_generate,
    "API generate async": api_generate_async,
    "API edit (upload)": api_edit,
    "API invalid (400)": api_invalid,
    "API models": api_models,
    "image download": image_download,
    "catalog page": catalog_page,
    "account page": account_page,
    "playground job": playground_job,
}


# Faults and sampling


def inject_faults(fal: FalFake, every: float, stop: threading.Event, counts: Counter) -> None:
    rng = random.Random(7)  # noqa: S311
    names = list(FAULTS)
    while not stop.wait(every):
        name = rng.choice(names)
        FAULTS[name](fal)
        counts[name] += 1


def descriptors(pid: int) -> tuple[int, int]:
    """(open file descriptors, of which sockets) of a process."""
    folder = Path(f"/proc/{pid}/fd")
    total = sockets = 0
    try:
        for entry in folder.iterdir():
            total += 1
            with contextlib.suppress(OSError):  # closed meanwhile
                sockets += os.readlink(entry).startswith("socket:")
    except OSError:
        return 0, 0
    return total, sockets


def sample_loop(site_pid: int, worker_pid: int, stop: threading.Event, out: list) -> None:
    started = time.monotonic()
    while True:
        site_fds, site_sockets = descriptors(site_pid)
        worker_fds, worker_sockets = descriptors(worker_pid)
        out.append(
            Sample(
                time.monotonic() - started,
                rss_mb(site_pid),
                site_fds,
                site_sockets,
                rss_mb(worker_pid),
                worker_fds,
                worker_sockets,
            )
        )
        if stop.wait(SAMPLE_EVERY_SECONDS):
            return


def growth(samples: list[Sample], value: Callable[[Sample], float]) -> tuple[float, float, float]:
    """(median early in the second half, median at the end, growth) of one measure: warm-up
    (caches, pools, first-time imports) is over by half time; growth after it is a leak."""
    count = len(samples)
    middle = [value(s) for s in samples[count // 2 : count // 2 + max(count // 8, 1)]]
    end = [value(s) for s in samples[-max(count // 8, 1) :]]
    early, late = percentile(middle, 50), percentile(end, 50)
    return early, late, late - early


# The run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--fault-every", type=float, default=0.5)
    args = parser.parse_args()

    with stack("soak") as running, FalFake() as fal, ReplicateFake() as replicate:
        env = site_env(
            running,
            **fal.env,
            **replicate.env,
            PROVIDER_READ_TIMEOUT_SECONDS=READ_TIMEOUT_SECONDS,
            PROVIDER_RETRY_WAIT_SECONDS="0.05",
            SIGN_UP_RATE_LIMIT_PER_MINUTE="100000",
            LOG_IN_RATE_LIMIT_PER_MINUTE="100000",
        )
        api_key = prepare(env, credits=CREDITS_USD)
        session = inside(env, "session", PAGE_USER)["sessionid"]
        site = uvicorn(running, env)
        task_workers(running, env, 1)
        site_pid, worker_pid = running.processes[0].pid, running.processes[1].pid

        print(
            f"Soaking {site} for {args.seconds:g} s: {args.clients} clients, a fault on fal "
            f"every {args.fault_every:g} s ...",
            flush=True,
        )
        soak = Soak(site, api_key, session, time.monotonic() + args.seconds)
        stop = threading.Event()
        faults: Counter = Counter()
        samples: list[Sample] = []
        background = [
            threading.Thread(target=inject_faults, args=(fal, args.fault_every, stop, faults)),
            threading.Thread(target=sample_loop, args=(site_pid, worker_pid, stop, samples)),
        ]
        clients = [
            threading.Thread(target=client_loop, args=(soak, seed)) for seed in range(args.clients)
        ]
        for thread in background + clients:
            thread.start()
        for thread in clients:
            thread.join()
        stop.set()
        for thread in background:
            thread.join()
        fal.release()  # hung answers go out now; nothing waits on them any more

        audit = drain(env)
        ledger = manage_ok(env, "check_ledger")
        passed = report(soak, faults, samples, audit, ledger, args)
    finish(passed)


def drain(env: dict) -> dict:
    """Wait for the worker to finish the playground jobs; then audit the ledger."""
    deadline = time.monotonic() + DRAIN_SECONDS
    while True:
        audit = json.loads(manage(env, "shell", "-c", LEDGER_AUDIT).strip().splitlines()[-1])
        if not audit["unfinished"] or time.monotonic() > deadline:
            return audit
        time.sleep(1)


def manage_ok(env: dict, command: str) -> tuple[bool, str]:
    try:
        return True, manage(env, command).strip()
    except RuntimeError as exc:
        return False, str(exc).strip()


def report(soak, faults, samples, audit, ledger, args) -> bool:
    by_action: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in soak.outcomes:
        by_action[outcome.action].append(outcome)
    unexpected = [o for o in soak.outcomes if not o.expected]
    rows = []
    for action in MIX:
        outcomes = by_action[action]
        seconds = [o.seconds for o in outcomes if o.expected]
        bad = sum(not o.expected for o in outcomes)
        rows.append(
            Row(
                action,
                f"{len(outcomes)} requests, p50 {percentile(seconds, 50) * 1000:.0f} ms, "
                f"p95 {percentile(seconds, 95) * 1000:.0f} ms, {bad} unexpected",
                "0 unexpected",
                bad == 0,
            )
        )
    total = len(soak.outcomes)
    rows.append(
        Row(
            "all traffic",
            f"{total} requests in {args.seconds:g} s ({total / args.seconds:.1f}/s)",
            "0 unexpected",
            not unexpected,
        )
    )
    rows.append(
        Row(
            "faults injected on fal",
            ", ".join(f"{count}x {name}" for name, count in sorted(faults.items())),
        )
    )
    for label, value, limit, unit in (
        ("site RSS", lambda s: s.site_rss, RSS_GROWTH_LIMIT_MB, "MB"),
        ("site open fds", lambda s: s.site_fds, FD_GROWTH_LIMIT, ""),
        ("site open sockets", lambda s: s.site_sockets, FD_GROWTH_LIMIT, ""),
        ("worker RSS", lambda s: s.worker_rss, RSS_GROWTH_LIMIT_MB, "MB"),
        ("worker open fds", lambda s: s.worker_fds, FD_GROWTH_LIMIT, ""),
        ("worker open sockets", lambda s: s.worker_sockets, FD_GROWTH_LIMIT, ""),
    ):
        first = value(samples[0]) if samples else float("nan")
        early, late, grew = growth(samples, value) if len(samples) >= 4 else (0, 0, 0)
        peak = max((value(s) for s in samples), default=float("nan"))
        rows.append(
            Row(
                f"{label} (start / half time / end / peak)",
                f"{first:.0f} / {early:.0f} / {late:.0f} / {peak:.0f} {unit}".strip(),
                f"growth after half time <= {limit} {unit}".strip(),
                len(samples) >= 4 and grew <= limit,
            )
        )
    balance_ok = all(balance == entries for _, balance, entries in audit["accounts"])
    bench = next((a for a in audit["accounts"] if a[0] == "bench"), None)
    rows += [
        Row(
            "generations",
            ", ".join(f"{count} {status}" for status, count in sorted(audit["by_status"].items())),
            "none unfinished",
            audit["unfinished"] == 0,
        ),
        Row(
            "holds settled, charges equal costs",
            f"{audit['problem_count']} differences",
            "0",
            audit["problem_count"] == 0,
        ),
        Row(
            "charged in all",
            f"${audit['charged'] / 1e6:.6f} (captures ${-audit['captures'] / 1e6:.6f})",
            "equal",
            audit["charged"] == -audit["captures"],
        ),
        Row(
            "balances equal ledger sums",
            f"{len(audit['accounts'])} accounts"
            + (f"; bench ${bench[1] / 1e6:.6f}" if bench else ""),
            "all equal",
            balance_ok,
        ),
        Row("manage.py check_ledger", ledger[1].splitlines()[-1][:70], "clean", ledger[0]),
    ]
    every = max(len(samples) // 12, 1)
    series = samples[::every]
    notes = [
        f"Every {SAMPLE_EVERY_SECONDS * every:g} s, site RSS MB / fds / sockets, worker RSS MB / "
        "fds / sockets: "
        + ", ".join(
            f"{s.site_rss:.0f}/{s.site_fds}/{s.site_sockets} "
            f"{s.worker_rss:.0f}/{s.worker_fds}/{s.worker_sockets}"
            for s in series
        )
    ]
    notes += [f"Unexpected: {o.action}: {o.detail}" for o in unexpected[:15]]
    notes += [f"Ledger: {problem}" for problem in audit["problems"]]
    return table("Soak: mixed traffic with provider faults", rows, notes)


if __name__ == "__main__":
    main()
