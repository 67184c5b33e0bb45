"""The Stripe fake (tests/fakes/stripe.py) proven against the official clients: stripe-python for
the API and the webhooks' signatures, a browser for the Stripe.js it serves. localstripe runs
behind it as a separate process; these tests check what the fake adds."""

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import stripe
from playwright.sync_api import Page, sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.fakes.stripe import API_VERSION, Delivery, StripeFake, card_fields

# stripe-python's HTTPXClient hands httpx the form body as `data=` text, which httpx deprecates
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

CHECKOUT = """<!doctype html>
<html><body><div id="card"></div>
<script src="{stripe_js}"></script>
<script>
  const stripe = Stripe("{publishable_key}");
  const card = stripe.elements().create("card");
  card.mount("#card");
  window.pay = (clientSecret) => stripe.confirmCardPayment(clientSecret, {{
    payment_method: {{card: card, billing_details: {{name: "Ada Lovelace"}}}},
  }});
</script></body></html>
"""


class Site:
    """The product's side, on loopback: a checkout page that loads the fake's Stripe.js, and a
    webhook endpoint that keeps what it receives and answers `status`."""

    def __init__(self, fake: StripeFake):
        self.status = 200
        self.received: list[tuple[str, bytes]] = []  # (Stripe-Signature, body)
        page = CHECKOUT.format(
            stripe_js=f"{fake.url}/js.stripe.com/v3/", publishable_key=fake.publishable_key
        ).encode()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.answer(200, page, "text/html")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                site.received.append((self.headers["Stripe-Signature"], body))
                self.answer(site.status, b"{}", "application/json")

            def answer(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.webhook_url = f"{self.url}/webhooks/stripe"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        ).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def site(stripe_fake: StripeFake) -> Iterator[Site]:
    """The site, the target of the fake's webhooks."""
    site = Site(stripe_fake)
    stripe_fake.deliver_to(site.webhook_url)
    yield site
    site.stop()


def stripe_client(fake: StripeFake, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": fake.url},
        http_client=stripe.HTTPXClient(allow_sync_methods=True),
        max_network_retries=0,
    )


@pytest.fixture
def client(stripe_fake: StripeFake) -> stripe.StripeClient:
    """stripe-python, with the secret key, on the fake."""
    return stripe_client(stripe_fake, stripe_fake.secret_key)


def payment_intent(
    client: stripe.StripeClient, amount: int = 2500, **params: Any
) -> stripe.PaymentIntent:
    return client.v1.payment_intents.create(
        {"amount": amount, "currency": "usd", "payment_method_types": ["card"], **params}
    )


def card_payment_method(fake: StripeFake, number: str) -> str:
    """A card's PaymentMethod, made with the publishable key as Stripe.js's createPaymentMethod
    makes it; its id."""
    data = {"key": fake.publishable_key, "type": "card", **card_fields("card", number)}
    return httpx.post(f"{fake.url}/v1/payment_methods", data=data).json()["id"]


def saved_card(client: stripe.StripeClient, fake: StripeFake, customer: str, number: str) -> str:
    """A card saved for off-session payments with a SetupIntent; its PaymentMethod's id."""
    setup = client.v1.setup_intents.create(
        {"customer": customer, "usage": "off_session", "payment_method_types": ["card"]}
    )
    confirmed = fake.confirm_setup_with_card(setup.client_secret, number)
    assert confirmed["status"] == "succeeded", confirmed
    return confirmed["payment_method"]


def event_object(delivery: Delivery) -> dict[str, Any]:
    return json.loads(delivery.payload)["data"]["object"]


def test_a_card_payment_its_webhook_a_refund_and_a_dispute(stripe_fake, site, client):
    customer = client.v1.customers.create({"email": "ada@example.com"})
    intent = payment_intent(client, customer=customer.id, metadata={"account": "42"})
    assert (intent.status, intent.amount_received) == ("requires_payment_method", 0)

    assert stripe_fake.confirm_with_card(intent.id, intent.client_secret)["status"] == "succeeded"
    paid = client.v1.payment_intents.retrieve(intent.id)
    assert (paid.status, paid.amount_received) == ("succeeded", 2500)
    assert isinstance(paid.latest_charge, str) and paid.latest_charge.startswith("ch_")
    expanded = client.v1.payment_intents.retrieve(intent.id, {"expand": ["latest_charge"]})
    assert expanded.latest_charge.id == paid.latest_charge
    charge = client.v1.charges.retrieve(paid.latest_charge)
    assert (charge.payment_intent, charge.disputed, charge.amount) == (intent.id, False, 2500)
    receipt = httpx.get(charge.receipt_url)
    assert receipt.status_code == 200 and "$25.00" in receipt.text

    refund = client.v1.refunds.create({"payment_intent": intent.id, "amount": 1000})
    assert (refund.amount, refund.charge) == (1000, charge.id)
    refunded = event_object(stripe_fake.wait_for_delivery("charge.refunded"))
    assert (refunded["id"], refunded["amount_refunded"], refunded["refunded"]) == (
        charge.id,
        1000,
        False,
    )
    assert refunded["receipt_url"] == charge.receipt_url

    dispute = stripe_fake.dispute(charge.id)
    assert dispute["id"].startswith("dp_") and dispute["amount"] == 2500
    assert event_object(stripe_fake.wait_for_delivery("charge.dispute.created")) == dispute
    retrieved = client.v1.disputes.retrieve(dispute["id"])
    assert (retrieved.status, retrieved.charge, retrieved.payment_intent, retrieved.reason) == (
        "needs_response",
        charge.id,
        intent.id,
        "fraudulent",
    )
    assert client.v1.charges.retrieve(charge.id).disputed is True
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.refunds.create({"charge": charge.id})
    assert refused.value.code == "charge_disputed"
    stripe_fake.close_dispute(dispute["id"], "lost")
    closed = event_object(stripe_fake.wait_for_delivery("charge.dispute.closed"))
    assert (closed["id"], closed["status"]) == (dispute["id"], "lost")

    # localstripe's own event, a second after the payment: relayed as Stripe's, signed
    delivery = stripe_fake.wait_for_delivery("payment_intent.succeeded")
    assert delivery.status == 200 and (delivery.signature, delivery.payload) in site.received
    event = stripe.Webhook.construct_event(
        delivery.payload, delivery.signature, stripe_fake.webhook_secret
    )
    succeeded = event.data.object
    assert (succeeded.id, succeeded.amount_received, succeeded.latest_charge) == (
        intent.id,
        2500,
        charge.id,
    )
    assert succeeded.metadata["account"] == "42"
    raw = json.loads(delivery.payload)
    assert raw["id"].startswith("evt_") and isinstance(raw["created"], int)
    assert raw["api_version"] == API_VERSION == stripe.api_version
    assert {name: raw[name] for name in ("object", "livemode", "pending_webhooks", "request")} == {
        "object": "event",
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }

    # Stripe's retry: the same event and body, signed anew
    retried = stripe_fake.resend(delivery)
    assert (retried.event_id, retried.payload, retried.status) == (
        delivery.event_id,
        delivery.payload,
        200,
    )
    secret = stripe_fake.webhook_secret
    assert stripe.Webhook.construct_event(retried.payload, retried.signature, secret).id == event.id


def test_declined_cards_leave_the_payment_intent_for_another_card(stripe_fake, site, client):
    intent = payment_intent(client)
    method = card_payment_method(stripe_fake, "4000000000000341")  # declined by localstripe
    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.confirm(intent.id, {"payment_method": method})
    declined = raised.value
    assert (declined.http_status, declined.code, declined.error.type) == (
        402,
        "card_declined",
        "card_error",
    )
    assert declined.error.decline_code == "generic_decline"
    assert declined.error.charge.startswith("ch_")
    assert declined.error.payment_method.id == method
    assert declined.error.payment_intent.status == "requires_payment_method"
    failed = client.v1.payment_intents.retrieve(intent.id)
    assert (failed.status, failed.amount_received) == ("requires_payment_method", 0)
    assert (failed.last_payment_error.type, failed.last_payment_error.code) == (
        "card_error",
        "card_declined",
    )

    # 4000000000000002 is declined when charged (localstripe only declines attaching it)
    error = stripe_fake.confirm_with_card(
        intent.id, intent.client_secret, number="4000000000000002"
    )["error"]
    assert (error["type"], error["code"], error["decline_code"]) == (
        "card_error",
        "card_declined",
        "generic_decline",
    )
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert error["payment_intent"]["payment_method"] is None
    assert error["payment_method"]["card"]["last4"] == "0002"

    assert stripe_fake.confirm_with_card(intent.id, intent.client_secret)["status"] == "succeeded"
    assert client.v1.payment_intents.retrieve(intent.id).last_payment_error is None
    assert (
        event_object(stripe_fake.wait_for_delivery("payment_intent.succeeded"))["id"] == intent.id
    )
    failures = [d for d in stripe_fake.deliveries if d.type == "payment_intent.payment_failed"]
    assert [event_object(d)["last_payment_error"]["code"] for d in failures] == [
        "card_declined"
    ] * 2


def test_a_saved_card_charged_off_session(stripe_fake, site, client):
    customer = client.v1.customers.create({"email": "grace@example.com"})
    saved = saved_card(client, stripe_fake, customer.id, "4242424242424242")
    top_up = payment_intent(
        client, 1500, customer=customer.id, payment_method=saved, off_session=True, confirm=True
    )
    assert (top_up.status, top_up.amount_received) == ("succeeded", 1500)

    # a card whose bank asks for authentication: off session, the payment fails
    strong = saved_card(client, stripe_fake, customer.id, "4000002760003184")
    with pytest.raises(stripe.CardError) as raised:
        payment_intent(
            client, customer=customer.id, payment_method=strong, off_session=True, confirm=True
        )
    error = raised.value.error
    assert (raised.value.code, error.type, error.decline_code) == (
        "authentication_required",
        "card_error",
        "authentication_required",
    )
    assert error.payment_method.id == strong
    assert error.payment_intent.status == "requires_payment_method"
    failed = client.v1.payment_intents.retrieve(error.payment_intent.id)
    assert (failed.status, failed.payment_method, failed.last_payment_error.code) == (
        "requires_payment_method",
        None,
        "authentication_required",
    )
    event = event_object(stripe_fake.wait_for_delivery("payment_intent.payment_failed"))
    assert (event["id"], event["last_payment_error"]["code"]) == (
        failed.id,
        "authentication_required",
    )


def test_the_rules_stripe_enforces(stripe_fake, client):
    with pytest.raises(stripe.InvalidRequestError) as small:
        payment_intent(client, 49)
    assert (small.value.code, small.value.param) == ("amount_too_small", "amount")
    assert "$0.50" in small.value.user_message
    intent = payment_intent(client, 50)

    public = stripe_client(stripe_fake, stripe_fake.publishable_key)
    server_only = {
        "create a customer": lambda: public.v1.customers.create(),
        "create a PaymentIntent": lambda: payment_intent(public),
        "retrieve a PaymentIntent": lambda: public.v1.payment_intents.retrieve(intent.id),
        "update a PaymentIntent": lambda: public.v1.payment_intents.update(
            intent.id, {"metadata": {"a": "b"}}
        ),
        "refund": lambda: public.v1.refunds.create({"payment_intent": intent.id}),
        "create a SetupIntent": lambda: public.v1.setup_intents.create(),
        "attach a PaymentMethod": lambda: public.v1.payment_methods.attach(
            "pm_card_visa", {"customer": "cus_x"}
        ),
    }
    for name, call in server_only.items():
        with pytest.raises(stripe.AuthenticationError) as refused:
            call()
        assert refused.value.error.code == "secret_key_required", name
    opened = public.v1.payment_intents.retrieve(intent.id, {"client_secret": intent.client_secret})
    assert opened.id == intent.id
    with pytest.raises(stripe.InvalidRequestError) as mismatched:
        public.v1.payment_intents.retrieve(intent.id, {"client_secret": "pi_x_secret_y"})
    assert mismatched.value.param == "client_secret"
    with pytest.raises(stripe.AuthenticationError):
        stripe_client(stripe_fake, "sk_test_another").v1.customers.create()

    assert stripe_fake.confirm_with_card(intent.id, intent.client_secret)["status"] == "succeeded"
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.confirm(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"
    confirmations = [call for call in stripe_fake.calls if call.path.endswith("/confirm")]
    assert [(call.key, call.params.get("client_secret")) for call in confirmations] == [
        (stripe_fake.publishable_key, intent.client_secret),
        (stripe_fake.secret_key, None),
    ]


def test_events_made_by_a_test(stripe_fake, site):
    stripe_fake.deliver_to(None)
    unsent = stripe_fake.send_event("customer.updated", {"id": "cus_1", "object": "customer"})
    assert unsent.status is None and site.received == []

    stripe_fake.deliver_to(site.webhook_url)
    site.status = 500
    failed = stripe_fake.send_event(
        "payment_intent.succeeded",
        {"id": "pi_1", "object": "payment_intent", "amount": 700, "status": "succeeded"},
    )
    assert failed.status == 500 and event_object(failed)["amount_received"] == 700
    site.status = 200
    retried = stripe_fake.resend(failed)
    assert (retried.status, retried.event_id) == (200, failed.event_id)
    assert stripe_fake.deliveries == [unsent, failed, retried]

    secret = stripe_fake.webhook_secret
    accepted = stripe.Webhook.construct_event(retried.payload, retried.signature, secret)
    assert accepted.id == failed.event_id
    forged = stripe_fake.sign(retried.payload, secret="whsec_another")
    stale = stripe_fake.sign(retried.payload, timestamp=int(time.time()) - 3600)
    for signature in (forged, stale):
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(retried.payload, signature, secret)


def test_stripe_js_confirms_a_card_payment_with_the_card_element(stripe_fake, site, client):
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(f"{site.url}/checkout")

        paid = pay(page, client, "4242424242424242")
        assert paid["paymentIntent"]["status"] == "succeeded"
        assert paid["paymentIntent"]["amount_received"] == 2500
        declined = pay(page, client, "4000000000000341")["error"]
        assert (declined["type"], declined["code"]) == ("card_error", "card_declined")
        assert declined["payment_intent"]["status"] == "requires_payment_method"
        # a card that asks for 3D Secure: localstripe's dialog, then the payment
        authenticated = pay(page, client, "4000002500003155", authenticate=True)
        assert authenticated["paymentIntent"]["status"] == "succeeded"
        failed = pay(page, client, "4000002500003155", authenticate=False)["error"]
        assert failed["code"] == "payment_intent_authentication_failure"
        assert failed["payment_intent"]["status"] == "requires_payment_method"
        assert pay(page, client, "")["error"]["type"] == "validation_error"
        browser.close()

    confirmation = next(call for call in stripe_fake.calls if call.path.endswith("/confirm"))
    assert confirmation.key == stripe_fake.publishable_key
    assert confirmation.params["client_secret"].startswith(confirmation.path.split("/")[3])
    assert {
        name: confirmation.params[f"payment_method_data{name}"]
        for name in ("[type]", "[card][number]", "[card][exp_year]", "[billing_details][name]")
    } == {
        "[type]": "card",
        "[card][number]": "4242424242424242",
        "[card][exp_year]": "2034",
        "[billing_details][name]": "Ada Lovelace",
    }


def pay(
    page: Page, client: stripe.StripeClient, number: str, *, authenticate: bool | None = None
) -> dict[str, Any]:
    """Type the card in localstripe's card element and pay a new PaymentIntent of 25 USD with
    `stripe.confirmCardPayment`; with `authenticate`, answer the 3D Secure dialog so."""
    intent = payment_intent(client)
    card = {"number": number, "exp_month": "12", "exp_year": "34", "cvc": "123"}
    for field, value in card.items():  # localstripe's element: one input a field
        page.fill(f"input[placeholder={field}]", value)
    page.evaluate(
        "secret => { window.result = null; pay(secret).then(r => { window.result = r; }); }",
        intent.client_secret,
    )
    if authenticate is not None:
        page.click("text=" + ("Complete authentication" if authenticate else "Fail authentication"))
    return page.wait_for_function("window.result").json_value()
