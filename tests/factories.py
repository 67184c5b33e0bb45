"""Factory functions for test data; each goes through the same services as the site."""

import io
import itertools
import socket
import threading
import time

import httpx
import openai
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from PIL import Image

from playground.accounts.models import Account, LedgerEntry
from playground.accounts.services import (
    account_open,
    api_key_create,
    credits_grant,
    starter_credits_grant,
)
from playground.gateway.models import Generation

_serial = itertools.count(1)
PASSWORD = "a-long-test-password-42"


def user_with_account(
    *, username: str | None = None, credits_usd: int = 0, email_verified: bool = True
):
    """A user with an account, whose email is verified, with the starter credits it brings,
    unless `email_verified` is False (then no starter credits; card payments need it too)."""
    username = username or f"user{next(_serial)}"
    email = f"{username}@example.com"
    user = get_user_model().objects.create_user(username=username, email=email, password=PASSWORD)
    address = EmailAddress.objects.create(
        user=user, email=email, primary=True, verified=email_verified
    )
    account_open(user=user)
    starter_credits_grant(email_address=address)
    if credits_usd:
        credits_grant(
            account=Account.objects.get(user=user),
            amount_micros=credits_usd * 1_000_000,
            memo="test",
        )
    return user


def signed_in_client(user) -> Client:
    """A test client signed in as `user`: a browser tab's session of its own."""
    client = Client()
    client.force_login(user)
    return client


def raw_api_key(*, user, **options) -> str:
    _, raw_key = api_key_create(user=user, name="test", **options)
    return raw_key


def balance_micros(user) -> int:
    return Account.objects.get(user=user).balance_micros


def assert_ledger_holds() -> None:
    """`check_ledger` finds every balance, debt and key's spend equal to its ledger's sum (it
    raises otherwise)."""
    out = io.StringIO()
    call_command("check_ledger", stdout=out, stderr=out)
    assert "The ledger balances" in out.getvalue()


def ledger_sum_micros(user) -> int:
    return sum(
        LedgerEntry.objects.filter(account__user=user).values_list("amount_micros", flat=True)
    )


def png_bytes(width: int = 64, height: int = 48, colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def mask_png(width: int = 64, height: int = 48, *, painted=(8, 8, 24, 20)) -> bytes:
    """A mask as OpenAI's edits take it: opaque black, fully transparent (alpha 0) in the
    `painted` box (left, top, right, bottom), where the image is to change."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), painted)
    out = io.BytesIO()
    mask.save(out, format="PNG")
    return out.getvalue()


SIZE = "256x256"


def api_client(server_url: str, key: str, *, timeout: float) -> httpx.Client:
    """An httpx client of the site's `/v1` API on a live server, signed in with `key`."""
    return httpx.Client(
        base_url=f"{server_url}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=timeout
    )


def api_images(
    server_url: str, user, *prompts: str, model: str = "qwen-image", respond_async: bool = False
) -> list[Generation]:
    """One generation per prompt for `user`, made through the OpenAI SDK on a live server.

    They are finished when this returns, or only queued (and held) with `respond_async`.
    """
    client = openai.OpenAI(
        base_url=f"{server_url}/v1", api_key=raw_api_key(user=user), max_retries=0
    )
    headers = {"Prefer": "respond-async"} if respond_async else {}
    ids = [
        client.images.with_raw_response.generate(
            model=model, prompt=prompt, size=SIZE, extra_headers=headers
        ).headers["x-generation-id"]
        for prompt in prompts
    ]
    return [Generation.objects.get(pk=generation_id) for generation_id in ids]


# The playground

HTMX = {"HX-Request": "true"}
START = 1_000_000  # the starter credits (conftest), in micro-dollars
# qwen-image at 1024x1024, priced at its cheapest offering (fal: $0.02 per megapixel).
QWEN_IMAGE_1K = 20_972


def run_form(**values) -> dict:
    """The playground's run form, filled in for one qwen-image at 1K, with `values` over it."""
    return {
        "model": "qwen-image:generate",
        "prompt": "a teapot in space",
        "aspect_ratio": "1:1",
        "resolution": "1K",
        "n": "1",
        "output_format": "png",
    } | values


def generate(client, **values):
    """Post the run form through htmx, as the playground's Generate button does."""
    return client.post(reverse("studio:generate"), run_form(**values), headers=HTMX)


def finished_generation(user, **values) -> Generation:
    """A generation of `user`'s run from the playground, ended (the tests run jobs at once)."""
    client = Client()
    client.force_login(user)
    generate(client, **values)
    return Generation.objects.filter(user=user).latest("created_at")


def png_upload(name="photo.png", **options) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, png_bytes(**options), content_type="image/png")


def free_port() -> int:
    """A loopback port nothing listens on now: for a server to start on, or to be refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """The URL of the database this test runs on, for another process to share it; on SQLite
    with the options the site gives it (playground/settings.py)."""
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{settings_dict['NAME']}?transaction_mode=IMMEDIATE&timeout=20"
    user, password = settings_dict["USER"], settings_dict["PASSWORD"]
    host, port, name = settings_dict["HOST"], settings_dict["PORT"], settings_dict["NAME"]
    return f"postgres://{user}:{password}@{host}:{port}/{name}"


def wait_until_finished(generation: Generation, timeout: float = 10) -> Generation:
    """`generation` once it has finished (or `timeout` seconds passed), read again."""
    deadline = time.monotonic() + timeout
    while not generation.is_finished and time.monotonic() < deadline:
        threading.Event().wait(0.02)
        generation.refresh_from_db()
    return generation


def event_types(kind: str, *, partials: int) -> list[str]:
    """The types of a stream's events: `partials` partial images, then the completed image
    (`kind` is "image_generation" or "image_edit")."""
    return [f"{kind}.partial_image"] * partials + [f"{kind}.completed"]
