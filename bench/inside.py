"""The benchmarks' steps that run inside the site's Django (same settings, same database).

    python bench/inside.py offering            add the bench-only `openai` offering of qwen-image
    python bench/inside.py session USER        log USER in; prints the session cookie value
    python bench/inside.py history USER N      give USER N finished playground generations
    python bench/inside.py queries USER PATH.. queries each page makes, anonymous and as USER
    python bench/inside.py jobs USER N SECONDS queue N playground jobs at once, wait for them

Each prints one JSON line.
"""

import json
import os
import sys
import time
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's site

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from playground.accounts.services import account_open, credits_grant  # noqa: E402
from playground.catalog.models import ImageModel, Offering  # noqa: E402
from playground.gateway.models import Generation, GenerationImage  # noqa: E402
from playground.gateway.schemas import parse_generation_request  # noqa: E402

PROMPT = "a lighthouse at dawn, benchmark"
HOST = {"HTTP_HOST": "127.0.0.1"}  # the test client's default host is not allowed


def offering() -> dict:
    """qwen-image sold by the `openai` provider, which the catalog does not list yet."""
    model = ImageModel.objects.get(slug="qwen-image")
    Offering.objects.update_or_create(
        model=model,
        provider="openai",
        provider_model_id="qwen-image",
        defaults={
            "modes": ["generate"],
            "price_micros": 20_000,
            "price_unit": "image",
            "is_active": True,
        },
    )
    return {"ok": True}


def user(username: str):
    """The user USERNAME, with $1,000 of credits when first made."""
    person, created = get_user_model().objects.get_or_create(username=username)
    account = account_open(user=person)
    if created:
        credits_grant(account=account, amount_micros=1_000 * 10**6, memo="bench")
    return person


def session(username: str) -> dict:
    client = Client(**HOST)
    client.force_login(user(username))
    return {"sessionid": client.cookies["sessionid"].value}


def history(username: str, count: str) -> dict:
    """N succeeded playground generations of one image each in USER's history (rows only: the
    pages read rows, the files are not opened)."""
    from django.utils import timezone

    person = user(username)
    model = ImageModel.objects.get(slug="qwen-image")
    now = timezone.now()
    made = Generation.objects.bulk_create(
        Generation(
            user=person,
            model=model,
            source=Generation.Source.PLAYGROUND,
            prompt=f"{PROMPT} {index}",
            params={
                "response_format": "url",
                "output_format": "png",
                "base_url": "http://127.0.0.1/",
            },
            width=1024,
            height=1024,
            seed=index,
            status=Generation.Status.SUCCEEDED,
            provider="openai",
            started_at=now,
            finished_at=now,
        )
        for index in range(int(count))
    )
    GenerationImage.objects.bulk_create(
        GenerationImage(
            generation=generation,
            index=0,
            file=f"generations/bench-{generation.pk}.png",
            content_type="image/png",
            width=1024,
            height=1024,
            size_bytes=1000,
            seed=generation.seed,
        )
        for generation in made
    )
    return {"generations": Generation.objects.filter(user=person).count()}


def queries(username: str, *paths: str) -> dict:
    """How many queries each page makes (status, count), anonymous and logged in."""
    found = {}
    for who, client in (("anonymous", Client(**HOST)), (username, Client(**HOST))):
        if who != "anonymous":
            client.force_login(user(username))
        for path in paths:
            client.get(path)  # caches filled, as on a running server
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            found[f"{who} {path}"] = [response.status_code, len(captured.captured_queries)]
    return found


def jobs(username: str, count: str, seconds: str) -> dict:
    """Queue COUNT playground jobs the way the playground does, then wait until all finished
    (or SECONDS passed). Times are from the first enqueue."""
    from playground.studio.services import generation_start

    person = user(username)
    request = parse_generation_request(
        {"model": "qwen-image", "prompt": PROMPT, "size": "1024x1024"}
    )
    started = time.monotonic()
    ids = [
        generation_start(user=person, request=request, base_url="http://127.0.0.1/").pk
        for _ in range(int(count))
    ]
    queued = time.monotonic() - started
    pending = Generation.objects.filter(pk__in=ids)
    deadline = started + float(seconds)
    while time.monotonic() < deadline:
        if not pending.filter(finished_at__isnull=True).exists():
            break
        time.sleep(0.1)
    finished = time.monotonic() - started
    statuses = {}
    for status in pending.values_list("status", flat=True):
        statuses[status] = statuses.get(status, 0) + 1
    return {"queued_seconds": queued, "seconds": finished, "statuses": statuses}


COMMANDS = {"offering": offering, "session": session, "history": history, "queries": queries}
COMMANDS["jobs"] = jobs

if __name__ == "__main__":
    print(json.dumps(COMMANDS[sys.argv[1]](*sys.argv[2:])), flush=True)
