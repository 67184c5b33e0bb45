"""API keys: made on the page (shown once), used with the OpenAI SDK, limited, revoked, expired."""

import re
from datetime import timedelta

import openai
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import dateformat, timezone

from playground.accounts.errors import InvalidApiKey
from playground.accounts.models import ApiKey, LedgerEntry
from playground.accounts.services import api_key_authenticate, api_key_create
from playground.accounts.templatetags.money import usd
from playground.gateway.models import Generation
from tests import factories

HTMX = {"HX-Request": "true"}


def create_key(client: Client, **fields) -> str:
    """Create a key on the page and return its full value, read from the response."""
    response = client.post(reverse("accounts:api-keys"), {"name": "laptop", **fields})
    assert response.status_code == 200
    return re.search(r'value="(sk-[\w-]+)"', response.text)[1]


def sdk(live_server, raw_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=raw_key, max_retries=0)


@pytest.mark.django_db
def test_a_new_key_is_shown_once_then_only_its_prefix(client, user):
    client.force_login(user)

    raw_key = create_key(client, spend_limit="2.50", expires_in="30")
    page = client.get(reverse("accounts:api-keys"))

    api_key = ApiKey.objects.get(user=user)
    assert raw_key not in page.text
    assert f"{api_key.prefix}…" in page.text
    assert raw_key.startswith(api_key.prefix)
    assert raw_key not in {api_key.key_hash, api_key.prefix}
    assert api_key.spend_limit_micros == 2_500_000
    assert timedelta(days=29) < api_key.expires_at - timezone.now() <= timedelta(days=30)
    assert "$2.50" in page.text


@pytest.mark.django_db
def test_creating_a_key_with_htmx_swaps_the_keys_section(client, user):
    client.force_login(user)

    response = client.post(reverse("accounts:api-keys"), {"name": "ci"}, headers=HTMX)
    refused = client.post(reverse("accounts:api-keys"), {"name": ""}, headers=HTMX)

    assert "<html" not in response.text
    assert "no-store" in response.headers["Cache-Control"]
    assert 'id="keys"' in response.text
    assert re.search(r'value="sk-[\w-]+"', response.text)
    assert "This field is required." in refused.text
    assert ApiKey.objects.filter(user=user).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_key_works_with_the_sdk_and_shows_its_last_use_and_spend(live_server, catalog, user):
    client = Client()
    client.force_login(user)
    raw_key = create_key(client)

    raw = sdk(live_server, raw_key).images.with_raw_response.generate(
        model="qwen-image", prompt="a key at work", size=factories.SIZE
    )

    generation = Generation.objects.get(pk=raw.headers["x-generation-id"])
    api_key = ApiKey.objects.get(user=user)
    assert api_key.last_used_at is not None
    assert api_key.spent_micros == generation.cost_micros > 0
    assert set(
        LedgerEntry.objects.filter(generation=generation).values_list("api_key", flat=True)
    ) == {api_key.pk}
    page = client.get(reverse("accounts:api-keys")).text
    assert f'<td class="num">{usd(generation.cost_micros)}</td>' in page
    last_used = dateformat.format(timezone.localtime(api_key.last_used_at), "M j, Y H:i")
    assert f"<td>{last_used}</td>" in page


@pytest.mark.django_db(transaction=True)
def test_a_spend_limit_is_enforced_with_402_like_the_balance(live_server, catalog, user):
    client = sdk(live_server, factories.raw_api_key(user=user))
    first = client.images.with_raw_response.generate(
        model="qwen-image", prompt="one", size=factories.SIZE
    )
    price = Generation.objects.get(pk=first.headers["x-generation-id"]).cost_micros
    limited = factories.raw_api_key(user=user, spend_limit_micros=price + price // 2)
    limited_client = sdk(live_server, limited)
    limited_client.images.generate(model="qwen-image", prompt="two", size=factories.SIZE)
    balance = factories.balance_micros(user)

    with pytest.raises(openai.APIStatusError) as caught:
        limited_client.images.generate(model="qwen-image", prompt="three", size=factories.SIZE)

    assert caught.value.status_code == 402
    assert caught.value.body["code"] == "spend_limit_reached"
    assert factories.balance_micros(user) == balance == factories.ledger_sum_micros(user)
    assert ApiKey.objects.get(prefix=limited[: ApiKey.PREFIX_LENGTH]).spent_micros == price
    client.images.generate(
        model="qwen-image", prompt="another key still works", size=factories.SIZE
    )


@pytest.mark.django_db(transaction=True)
def test_a_revoked_key_stops_working(live_server, catalog, user):
    client = Client()
    client.force_login(user)
    raw_key = create_key(client)
    api_key = ApiKey.objects.get(user=user)
    sdk(live_server, raw_key).models.list()  # authenticated once, so cached

    row = client.post(reverse("accounts:api-key-revoke", args=[api_key.pk]), headers=HTMX)

    assert row.text.strip().startswith(f'<tr id="key-{api_key.pk}">')
    assert "revoked" in row.text
    assert "Revoke</button>" not in row.text
    with pytest.raises(openai.AuthenticationError):
        sdk(live_server, raw_key).images.generate(
            model="qwen-image", prompt="x", size=factories.SIZE
        )


def test_a_key_used_again_reads_no_row_to_authenticate(user, django_assert_num_queries):
    _, raw_key = api_key_create(user=user, name="busy")
    first = api_key_authenticate(raw_key=raw_key)  # reads the key, writes its last use

    with django_assert_num_queries(0):
        again = api_key_authenticate(raw_key=raw_key)

    assert again == first
    assert again.user.account.pk == user.account.pk
    assert again.last_used_at == first.last_used_at
    assert {"password", "email"} <= again.user.get_deferred_fields()  # not in the cache
    assert "balance_micros" in again.user.account.get_deferred_fields()


@pytest.mark.parametrize("change", ["deactivate the user", "delete the key"])
def test_a_cached_key_stops_at_once_when_its_user_is_deactivated_or_it_is_deleted(user, change):
    api_key, raw_key = api_key_create(user=user, name="cached")
    api_key_authenticate(raw_key=raw_key)

    if change == "deactivate the user":
        user.is_active = False
        user.save()
    else:
        api_key.delete()

    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw_key=raw_key)


@pytest.mark.django_db(transaction=True)
def test_an_expired_key_stops_working(live_server, catalog, user):
    _, raw_key = api_key_create(
        user=user, name="old", expires_at=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(openai.AuthenticationError):
        sdk(live_server, raw_key).images.generate(
            model="qwen-image", prompt="x", size=factories.SIZE
        )
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.HOLD).exists()
