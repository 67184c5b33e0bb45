"""The account pages through the test client: what each shows, filters, paging, and privacy."""

import re
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from playground.accounts.models import ApiKey, LedgerEntry
from playground.accounts.money import format_usd
from playground.accounts.services import api_key_create, credits_adjust, credits_grant
from playground.accounts.templatetags.money import usd
from tests import factories

HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(client, user, catalog):
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("method", "name", "args"),
    [
        ("get", "accounts:overview", []),
        ("get", "accounts:usage", []),
        ("get", "accounts:api-keys", []),
        ("post", "accounts:api-keys", []),
        ("get", "billing:top-up", []),
        ("post", "billing:top-up", []),
        ("get", "accounts:generation", [uuid.uuid4()]),
        ("post", "accounts:api-key-revoke", [1]),
    ],
)
@pytest.mark.django_db
def test_every_account_page_needs_a_login(client, method, name, args):
    response = getattr(client, method)(reverse(name, args=args))

    assert response.status_code == 302
    assert response.url.startswith(reverse("account_login"))


@pytest.mark.django_db(transaction=True)
def test_overview_shows_balance_starter_credits_and_each_charge_linked(
    live_server, signed_in, user
):
    (generation,) = factories.api_images(live_server.url, user, "a lighthouse")

    response = signed_in.get(reverse("accounts:overview"))

    assert response.status_code == 200
    balance = factories.balance_micros(user)
    assert balance == 1_000_000 - generation.cost_micros
    assert f'<p class="big">{usd(balance)}</p>' in response.text
    assert "Starter credits" in response.text
    assert reverse("accounts:generation", args=[generation.pk]) in response.text
    assert f"cost {usd(generation.cost_micros)}" in response.text
    assert "· demo" in response.text  # the provider
    assert re.search(r"\d+\.\d s", response.text)  # the duration
    assert usd(-generation.cost_micros, "exact") in response.text  # the charge row


@pytest.mark.parametrize("name", ["accounts:overview", "studio:playground"])
def test_a_page_that_shows_the_balance_twice_reads_it_once(signed_in, catalog, name):
    with CaptureQueriesContext(connection) as queries:
        response = signed_in.get(reverse(name))

    assert response.text.count(usd(1_000_000)) >= 2  # the header and the page
    balance_reads = [q for q in queries if 'SELECT "accounts_account"."balance_micros"' in q["sql"]]
    assert len(balance_reads) == 1


@pytest.mark.django_db
def test_the_ledger_filters_by_kind_and_day_and_pages_with_htmx(signed_in, user):
    account = user.account
    for number in range(30):
        credits_grant(account=account, amount_micros=1_000 + number, memo=f"gift {number}")
    credits_adjust(account=account, amount_micros=5, memo="an adjustment", created_by=user)
    url = reverse("accounts:overview")

    everything = signed_in.get(url)
    first = signed_in.get(url, {"kind": "grant"}, headers=HTMX)
    second = signed_in.get(url, {"kind": "grant", "page": 2}, headers=HTMX)
    tomorrow = signed_in.get(url, {"since": timezone.localdate() + timedelta(days=1)})
    holds = signed_in.get(url, {"kind": "hold"})

    assert "<html" not in first.text  # only the ledger partial
    assert "HX-Request" in first.headers["Vary"]
    shown = re.findall(r"gift \d+", first.text) + re.findall(r"gift \d+", second.text)
    assert len(re.findall(r"gift \d+", first.text)) == 25
    assert sorted(shown) == sorted(f"gift {n}" for n in range(30))
    assert "Starter credits" in second.text  # the oldest grant is last
    assert "an adjustment" in everything.text
    assert "an adjustment" not in first.text + second.text
    assert "kind=grant&amp;page=2" in first.text  # paging keeps the filter
    assert "No ledger entries match." in tomorrow.text
    assert "No ledger entries match." in holds.text


@pytest.mark.django_db(transaction=True)
def test_the_generation_page_shows_hold_release_and_charge(live_server, signed_in, user):
    (generation,) = factories.api_images(live_server.url, user, "a lighthouse")

    response = signed_in.get(reverse("accounts:generation", args=[generation.pk]))

    assert response.status_code == 200
    kinds = list(
        LedgerEntry.objects.filter(generation=generation)
        .order_by("pk")
        .values_list("kind", "amount_micros")
    )
    assert kinds == [
        (LedgerEntry.Kind.HOLD, -generation.hold_micros),
        (LedgerEntry.Kind.RELEASE, generation.hold_micros),
        (LedgerEntry.Kind.CAPTURE, -generation.cost_micros),
    ]
    for label in ("Hold", "Release", "Charge"):
        assert f"<td>{label}</td>" in response.text
    assert generation.prompt in response.text
    assert "demo" in response.text


@pytest.mark.django_db(transaction=True)
def test_another_users_ids_are_not_found_and_their_rows_not_shown(live_server, signed_in):
    other = factories.user_with_account()
    other_key, _ = api_key_create(user=other, name="the other user's key")
    credits_grant(account=other.account, amount_micros=5_000_000, memo="the other user's gift")
    (other_generation,) = factories.api_images(live_server.url, other, "someone else's picture")

    generation_page = signed_in.get(reverse("accounts:generation", args=[other_generation.pk]))
    revoke = signed_in.post(reverse("accounts:api-key-revoke", args=[other_key.pk]))
    pages = [
        signed_in.get(reverse(name)).text
        for name in ("accounts:overview", "accounts:usage", "accounts:api-keys", "billing:top-up")
    ]

    assert generation_page.status_code == 404
    assert revoke.status_code == 404
    assert ApiKey.objects.get(pk=other_key.pk).revoked_at is None
    for page in pages:
        assert "the other user's gift" not in page
        assert "someone else" not in page
        assert other_key.prefix not in page
        assert "the other user's key" not in page
    assert reverse("accounts:generation", args=[other_generation.pk]) not in pages[0]


@pytest.mark.django_db(transaction=True)
def test_usage_draws_spend_per_day_and_model_with_totals(live_server, signed_in, user):
    first, second, too_old = factories.api_images(live_server.url, user, "one", "two", "four")
    (other_model,) = factories.api_images(live_server.url, user, "three", model="qwen-image-2512")
    LedgerEntry.objects.filter(generation=second).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    LedgerEntry.objects.filter(generation=too_old).update(
        created_at=timezone.now() - timedelta(days=30)
    )

    response = signed_in.get(reverse("accounts:usage"))

    assert response.status_code == 200
    svg = response.text[response.text.index("<svg") : response.text.index("</svg>")]
    assert svg.count("<rect") == 3  # today: two models stacked; three days ago: one
    qwen_image = first.cost_micros + second.cost_micros
    total = qwen_image + other_model.cost_micros
    assert f"Qwen Image: {format_usd(first.cost_micros)}" in svg
    assert f"Qwen Image 2512: {format_usd(other_model.cost_micros)}" in svg
    models = response.text[response.text.index('id="models-title"') :]
    row = re.search(r"Qwen Image</td>(.*?)</tr>", models, re.DOTALL)[1]
    assert re.findall(r'<td class="num">(.*?)</td>', row) == ["2", usd(qwen_image)]
    assert f"<strong>{usd(total)}</strong> on 3 generations" in response.text


@pytest.mark.django_db
def test_usage_without_spend_says_so(signed_in):
    response = signed_in.get(reverse("accounts:usage"))

    assert "<svg" not in response.text
    assert "No spend in this period." in response.text
