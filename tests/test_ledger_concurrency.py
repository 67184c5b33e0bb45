"""Many threads spending one balance through the API at once: exactly the affordable ones pass.

The site runs under uvicorn, as in production, where each request's database work has a thread
and a connection of its own. Passes on SQLite and on PostgreSQL (`DATABASE_URL`).
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from playground.accounts.models import Account, ApiKey, LedgerEntry
from playground.accounts.money import usd_to_micros
from playground.accounts.services import credits_grant
from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

K = 10
REQUESTS = 4 * K


@pytest.mark.parametrize(
    ("limited_by", "code"),
    [("balance", "insufficient_credits"), ("key spend limit", "spend_limit_reached")],
)
def test_what_pays_for_exactly_k_images_allows_exactly_k_of_4k_concurrent_requests(
    asgi_server, catalog, settings, limited_by, code
):
    (probe,) = factories.api_images(
        asgi_server, factories.user_with_account(), "what does one cost"
    )
    price = probe.cost_micros
    settings.STARTER_CREDITS_USD = "0"
    user = factories.user_with_account()
    balance = K * price if limited_by == "balance" else 100 * K * price
    credits_grant(account=Account.objects.get(user=user), amount_micros=balance, memo="credits")
    key = factories.raw_api_key(
        user=user, spend_limit_micros=K * price if limited_by == "key spend limit" else None
    )
    client = openai.OpenAI(base_url=f"{asgi_server}/v1", api_key=key, max_retries=0)
    start = threading.Barrier(REQUESTS)

    remaining = []

    def call(index: int) -> int:
        start.wait()
        try:
            raw = client.images.with_raw_response.generate(
                model="qwen-image", prompt=f"race {index}", size=factories.SIZE
            )
        except openai.APIStatusError as exc:
            return exc.status_code if exc.body["code"] == code else exc
        remaining.append(usd_to_micros(raw.headers["x-credits-remaining"]))
        return 200

    with ThreadPoolExecutor(REQUESTS) as pool:
        statuses = list(pool.map(call, range(REQUESTS)))

    assert (statuses.count(200), statuses.count(402)) == (K, REQUESTS - K)
    assert factories.balance_micros(user) == balance - K * price
    # Each answer's balance is the one its settle left: the last settle's is the final one.
    assert min(remaining) == factories.balance_micros(user)
    assert factories.ledger_sum_micros(user) == factories.balance_micros(user)
    charges = LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.CAPTURE)
    assert sorted(charges.values_list("amount_micros", flat=True)) == [-price] * K
    assert Generation.objects.filter(user=user, status=Generation.Status.SUCCEEDED).count() == K
    assert ApiKey.objects.get(user=user).spent_micros == K * price
