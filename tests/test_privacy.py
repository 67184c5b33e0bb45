"""Users cannot see, fetch, change or delete each other's generations, images or keys.

The id-taking URLs are read from the URL conf, so a new one fails
`test_every_id_taking_url_is_checked_here` until it is added to the table below. Each one owned
by a user is then tried, signed in as someone else, with the owner's ids; so are the ids taken
from the query string and from forms. Image URLs are checked to be unguessable.

(Single cases are also in tests/test_account_pages.py, tests/test_playground.py and
tests/test_api_images.py; this module is the systematic sweep over the URL conf.)
"""

import math
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from playground.accounts.models import ApiKey
from playground.accounts.services import api_key_create
from playground.billing.models import Payment
from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
# Every named URL that takes a path argument: who may use it, and how it is called.
OWNED = {  # name: (method, which of the owner's objects its argument is)
    "accounts:generation": ("get", "generation"),
    "accounts:api-key-revoke": ("post", "api_key"),
    "studio:generation": ("get", "generation"),
    "studio:generation-card": ("get", "generation"),
    "studio:generation-cancel": ("post", "generation"),
    "studio:generation-delete": ("post", "generation"),
    "studio:image-download": ("get", "image"),
    "studio:image-publish": ("post", "image"),
    "studio:image-unpublish": ("post", "image"),
    "gateway:generation-detail": ("get", "generation"),
    "billing:payment": ("get", "payment"),
}
PUBLIC = {  # the same for everybody: catalog pages, and files named by an unguessable token
    "catalog:model-detail",
    "gateway:model-detail",
    "media",
    # allauth's mail links: the key in the address is signed (or a one-time token), and is the
    # only thing that proves who follows the link.
    "account_confirm_email",
    "account_reset_password_from_key",
}
MIN_TOKEN_BITS = 128


def url_patterns(patterns=None, prefix: str = "", namespace: str = "") -> Iterator[tuple]:
    """(name, route) of every URL of the site, the names with their namespaces."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace or ""
            yield from url_patterns(
                pattern.url_patterns, prefix + str(pattern.pattern), inner.strip(":")
            )
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield name, prefix + str(pattern.pattern)


def takes_an_argument(route: str) -> bool:
    return "<" in route or "(?P<" in route


# The two users


def form(**values) -> dict:
    return {
        "model": "qwen-image:generate",
        "prompt": "someone else's picture",
        "aspect_ratio": "1:1",
        "resolution": "1K",
        "n": "1",
        "output_format": "png",
    } | values


def png_upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("mine.png", factories.png_bytes(), content_type="image/png")


@pytest.fixture
def owner(catalog):
    """A user with an edit (so an input image and a result image) and an API key."""
    user = factories.user_with_account(credits_usd=5)
    client = Client()
    client.force_login(user)
    client.post(
        reverse("studio:generate"),
        form(model="qwen-image-edit:edit", prompt="the owner's edit", images=[png_upload()]),
        headers=HTMX,
    )
    generation = Generation.objects.get(user=user)
    assert generation.status == Generation.Status.SUCCEEDED, generation.error_message
    api_key, _ = api_key_create(user=user, name="the owner's key")
    payment = Payment.objects.create(
        account=user.account,
        intent_id="pi_the_owners",
        amount_micros=10_000_000,
        received_micros=10_000_000,
        status=Payment.Status.SUCCEEDED,
    )
    return {
        "user": user,
        "generation": generation,
        "image": generation.images.get(),
        "api_key": api_key,
        "payment": payment,
    }


@pytest.fixture
def intruder(client, catalog):
    """Another signed-in user, with an API key of their own."""
    user = factories.user_with_account()
    client.force_login(user)
    client.raw_api_key = factories.raw_api_key(user=user)
    return client


def call(client: Client, name: str, method: str, argument) -> object:
    url = reverse(name, args=[argument])
    if name.startswith("gateway:"):
        return client.get(url, headers={"Authorization": f"Bearer {client.raw_api_key}"})
    return getattr(client, method)(url, headers=HTMX)


# The URL conf


def test_every_id_taking_url_is_checked_here():
    names = {
        name
        for name, route in url_patterns()
        if takes_an_argument(route) and name and not name.startswith("admin:")
    }

    assert names == set(OWNED) | PUBLIC


@pytest.mark.parametrize(("name", "how"), OWNED.items(), ids=OWNED.keys())
def test_another_users_ids_are_not_found(intruder, owner, name, how):
    method, kind = how
    target = owner[kind]

    response = call(intruder, name, method, target.pk)

    assert response.status_code == 404
    text = response.content.decode()
    assert "the owner's edit" not in text
    assert "the owner's key" not in text
    assert owner["image"].file.name not in text


@pytest.mark.parametrize(("name", "how"), OWNED.items(), ids=OWNED.keys())
def test_the_owner_may_use_each_of_them(owner, name, how):
    """The same calls succeed for the owner, so the 404s above are about ownership."""
    method, kind = how
    client = Client()
    client.force_login(owner["user"])
    client.raw_api_key = factories.raw_api_key(user=owner["user"])

    response = call(client, name, method, owner[kind].pk)

    assert response.status_code in (200, 204, 302), response.status_code


def test_nothing_of_the_owner_changed_after_the_attempts(intruder, owner):
    for name, (method, kind) in OWNED.items():
        call(intruder, name, method, owner[kind].pk)

    generation = Generation.objects.get(pk=owner["generation"].pk)
    assert generation.status == Generation.Status.SUCCEEDED
    assert generation.images.get().published_at is None
    assert ApiKey.objects.get(pk=owner["api_key"].pk).revoked_at is None
    assert factories.ledger_sum_micros(owner["user"]) == factories.balance_micros(owner["user"])


# Ids in query strings and forms


def test_ids_in_query_strings_show_nothing_of_another_user(intruder, owner):
    generation, image = owner["generation"], owner["image"]

    reuse = intruder.get(reverse("studio:playground"), {"reuse": generation.pk})
    edit = intruder.get(reverse("studio:playground"), {"image": image.pk})
    unpublished = intruder.get(reverse("studio:playground"), {"gallery": image.pk})
    compare = intruder.get(reverse("studio:compare"), {"g": [generation.pk]})

    assert reuse.status_code == 404
    assert edit.status_code == 404
    assert unpublished.status_code == 404
    assert compare.status_code == 200
    assert str(generation.pk) not in compare.content.decode()
    assert "the owner's edit" not in compare.content.decode()


def test_another_users_images_cannot_be_used_as_inputs(intruder, owner):
    picks = intruder.post(
        reverse("studio:generate"),
        form(model="qwen-image-edit:edit", prompt="steal", picks=[owner["image"].pk]),
        headers=HTMX,
    )
    inputs_of = intruder.post(
        reverse("studio:generate"),
        form(model="qwen-image-edit:edit", prompt="steal", inputs_of=str(owner["generation"].pk)),
        headers=HTMX,
    )

    assert picks.status_code in (200, 400, 422)
    assert inputs_of.status_code in (200, 400, 422)
    assert not Generation.objects.exclude(user=owner["user"]).exists()


# The admin


def test_the_admin_pages_of_anyones_objects_need_staff(intruder, owner):
    urls = [
        reverse("admin:gateway_generation_change", args=[owner["generation"].pk]),
        reverse("admin:accounts_apikey_change", args=[owner["api_key"].pk]),
        reverse("admin:auth_user_change", args=[owner["user"].pk]),
    ]

    for url in urls:
        response = intruder.get(url)
        assert response.status_code == 302, url
        assert urlsplit(response.url).path == reverse("admin:login")


# Image URLs


def test_image_urls_are_unguessable(intruder, owner):
    generation, image = owner["generation"], owner["image"]
    names = [image.file.name, *generation.params["inputs"]["images"]]

    for name in names:
        folder, _, filename = name.rpartition("/")
        token = filename.rpartition(".")[0]
        assert re.fullmatch(r"[A-Za-z0-9_-]+", token), name
        assert len(token) * math.log2(64) >= MIN_TOKEN_BITS, name
        assert str(generation.pk) not in name and owner["user"].username not in name
        assert intruder.get(f"/media/{name}").status_code == 200  # the URL is the capability
        near_miss = f"/media/{folder}/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}.png"
        assert intruder.get(near_miss).status_code == 404


@pytest.mark.parametrize("path", ["/media/generations/", "/media/inputs"])
def test_a_media_folder_is_not_found(intruder, owner, path):
    assert intruder.get(path).status_code == 404
