"""A fake Stripe for the tests: localstripe, run as a separate process, behind a "Stripe edge" of
ours that forwards to it and adds what the product needs and localstripe lacks.

localstripe (https://github.com/adrienverge/localstripe) is GPL-3.0, so it only ever runs as its
own process, from its own venv (`make tests/.sdk/venv-localstripe/.installed`), spoken to over
HTTP: nothing of the project imports it, and its Stripe.js is fetched from it at serve time, never
copied into this repository.

`StripeFake` starts localstripe on a free loopback port and serves, on another, every `/v1/...`
request and `GET /js.stripe.com/v3/` by forwarding it to localstripe with its own secret key,
after enforcing the rules below, and rewriting the answer. What it adds:

- Fields localstripe lacks, in answers and in webhook payloads alike: a PaymentIntent's
  `amount_received` (its amount once succeeded, else 0) and `latest_charge` as the charge's id (the
  charge itself under `expand[]=latest_charge`) and `description` (kept here: localstripe refuses
  the parameter); a Charge's `receipt_url` (a small HTML receipt
  served here), `payment_intent` and `disputed`; card errors typed `card_error` with a
  `decline_code`, `doc_url`, the `payment_intent` and the `payment_method`, as Stripe sends them
  (https://docs.stripe.com/api/errors).
- `POST /v1/payment_intents/{id}/confirm` with `payment_method=pm_...` or `payment_method_data[...]`
  (localstripe answers 500 "Not implemented"): the PaymentMethod is created, set on the
  PaymentIntent through localstripe's update endpoint (a JSON body, which it takes, so that
  `latest_charge` and `next_action` can be reset to null for a new attempt), then confirmed.
  `confirm=true` at creation goes the same way.
- Stripe.js: localstripe's, followed by `stripe_js_addon.js` (ours), which makes
  `confirmCardPayment(clientSecret, {payment_method: {card: element}})` confirm with the card, as
  Stripe.js does (https://docs.stripe.com/js/payment_intents/confirm_card_payment).
- Signed webhooks: localstripe's events are relayed (verified with a private secret, rewritten as
  above, re-signed with `webhook_secret`), and the events it never sends are made here:
  `charge.succeeded` before a `payment_intent.succeeded`, `charge.refunded` after a refund,
  `charge.dispute.created` and `charge.dispute.closed`
  (`dispute()`, `close_dispute()`), `payment_intent.payment_failed` for the failures decided here.
  Each is an Event as https://docs.stripe.com/api/events/object describes it, delivered from a
  background thread with `Stripe-Signature: t=...,v1=HMAC-SHA256(secret, "t.payload")`
  (https://stripe.com/docs/webhooks/signatures).

Rules enforced, as the real API would, so that a test fails the day the product breaks one:

- A publishable key (`pk_...`) may only call what Stripe.js calls: create PaymentMethods (and
  tokens, sources), and retrieve or confirm a PaymentIntent or SetupIntent with its client secret.
  Anything else answers 401 `secret_key_required`, as does such a call without the client secret;
  a client secret of another intent answers 400 (https://docs.stripe.com/api/authentication,
  https://docs.stripe.com/error-codes#secret-key-required).
- A PaymentIntent's amount is at least the currency's minimum charge, 50 cents for USD (EUR 0.50,
  GBP 0.30): 400 `amount_too_small`
  (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
- Only a PaymentIntent in `requires_payment_method`, `requires_confirmation` or `requires_action`
  can be confirmed: 400 `payment_intent_unexpected_state` otherwise
  (https://docs.stripe.com/api/payment_intents/confirm).
- An off-session confirmation (`off_session=true`) of a card that needs authentication, which
  localstripe leaves in `requires_action`, fails as Stripe's does: 402 `card_error`
  `authentication_required` with the PaymentIntent, now `requires_payment_method`, in the error,
  and a `payment_intent.payment_failed` event
  (https://docs.stripe.com/api/payment_intents/confirm#confirm_payment_intent-off_session,
  https://docs.stripe.com/payments/save-and-reuse, https://docs.stripe.com/declines/codes).
- The test cards that Stripe declines when charged and localstripe only declines when attached
  (4000000000000002 and its kin, https://docs.stripe.com/testing#declined-payments) are declined
  on confirmation, when their PaymentMethod was made through this fake.
- A disputed charge cannot be refunded: 400 `charge_disputed`
  (https://docs.stripe.com/error-codes#charge-disputed).
- A refund without an amount refunds what is left of the charge, and never more than is left:
  400 `amount_too_large`, or `charge_already_refunded` (https://docs.stripe.com/api/refunds/create);
  localstripe refunds the whole charge again each time.

For the tests: `url`, `secret_key`, `publishable_key`, `webhook_secret`; `deliver_to(url)`,
`deliveries`, `wait_for_delivery(type)`, `send_event`, `resend`, `sign`; `confirm_with_card` (what
the Stripe.js addition does, without a browser) and `confirm_setup_with_card` (Stripe.js's
confirmCardSetup); `dispute`, `close_dispute`; `calls` (each API call
as method, path, parameters and key); `reset()` between tests. It is a `FakeServer`, so
`fail_next(...)` and friends script faults on its routes.

Notes: localstripe sends its webhooks about a second after the event. Its events say api_version
2017-08-15; they are relayed with `API_VERSION`. Events of objects no answer of this fake showed
since the last `reset()` are not relayed: they are a previous test's, arriving late. Query strings
are forwarded as a dict (stripe-python indexes list parameters, `expand[0]=...`, so none repeats).
"""

import base64
import copy
import hashlib
import hmac
import html
import json
import queue
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any, Literal, Self
from urllib.parse import parse_qsl

import httpx

from tests.factories import free_port

from .server import FakeServer, Recorded, Reply, Route, json_reply, retry_header

LOCALSTRIPE = Path(__file__).resolve().parents[1] / ".sdk/venv-localstripe/bin/localstripe"
JS_ADDON = Path(__file__).with_name("stripe_js_addon.js")
# The API version events are rendered in (stripe-python 16.1 pins it; a test holds them equal).
API_VERSION = "2026-10-28.endive"
STARTUP_SECONDS = 15.0
DELIVERY_TIMEOUT_SECONDS = 10.0
RELAY_PATH = "/_localstripe/events"
TEST_CARD_EXPIRY = {"exp_month": "12", "exp_year": "2034", "cvc": "123"}

MINIMUM_CHARGE = {"usd": 50, "eur": 50, "gbp": 30}  # in the currency's minor unit
CURRENCY_SIGNS = {"usd": "$", "eur": "€", "gbp": "£"}
CONFIRMABLE = ("requires_payment_method", "requires_confirmation", "requires_action")
# What a confirmation may carry here; Stripe takes more (return_url, setup_future_usage, ...),
# which localstripe cannot do: they are refused by name rather than ignored.
CONFIRM_PARAMS = {
    *("key", "client_secret", "payment_method", "payment_method_data", "off_session", "expand")
}
PUBLISHABLE_KEY_REFUSED = (
    "This API call cannot be made with a publishable API key. Please use a secret API key. You "
    "can find a list of your API keys at https://dashboard.stripe.com/account/apikeys."
)
DISPUTE_FEE = 1500  # cents, Stripe's US dispute fee, withdrawn with the disputed amount
EVIDENCE_DAYS = 7
EVIDENCE_FIELDS = (
    "access_activity_log",
    "billing_address",
    "cancellation_policy",
    "cancellation_policy_disclosure",
    "cancellation_rebuttal",
    "customer_communication",
    "customer_email_address",
    "customer_name",
    "customer_purchase_ip",
    "customer_signature",
    "duplicate_charge_documentation",
    "duplicate_charge_explanation",
    "duplicate_charge_id",
    "product_description",
    "receipt",
    "refund_policy",
    "refund_policy_disclosure",
    "refund_refusal_explanation",
    "service_date",
    "service_documentation",
    "shipping_address",
    "shipping_carrier",
    "shipping_date",
    "shipping_documentation",
    "shipping_tracking_number",
    "uncategorized_file",
    "uncategorized_text",
)
RECEIPT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Receipt {charge}</title></head>
<body><h1>Receipt</h1><dl>
<dt>Amount paid</dt><dd>{amount}</dd><dt>Refunded</dt><dd>{refunded}</dd>
<dt>Date</dt><dd>{date}</dd><dt>Charge</dt><dd>{charge}</dd>
<dt>Payment</dt><dd>{payment_intent}</dd></dl></body></html>
"""


@dataclass(frozen=True)
class CardFailure:
    """How a card payment fails: the error's code, decline code and message."""

    code: str
    decline_code: str
    message: str


AUTHENTICATION_REQUIRED = CardFailure(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
DECLINED_ON_CHARGE = {
    "4000000000000002": CardFailure("card_declined", "generic_decline", "Your card was declined."),
    "4000000000009995": CardFailure(
        "card_declined", "insufficient_funds", "Your card has insufficient funds."
    ),
    "4000000000009987": CardFailure("card_declined", "lost_card", "Your card was declined."),
    "4000000000009979": CardFailure("card_declined", "stolen_card", "Your card was declined."),
    "4000000000000069": CardFailure("expired_card", "expired_card", "Your card has expired."),
    "4000000000000127": CardFailure(
        "incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."
    ),
    "4000000000000119": CardFailure(
        "processing_error",
        "processing_error",
        "An error occurred while processing your card. Try again in a little bit.",
    ),
}


@dataclass(frozen=True)
class ApiCall:
    """One API request as the fake received it."""

    method: str
    path: str
    params: dict[str, str]  # query and body, named as Stripe's form encoding names them
    key: str | None  # from the Authorization header, or `key` in the body (Stripe.js)

    @classmethod
    def of(cls, request: Recorded) -> Self:
        params = dict(request.query)
        body = request.body.strip()
        if body.startswith(b"{"):  # localstripe's Stripe.js posts JSON
            params.update(_flatten(json.loads(body)))
        elif body:
            params.update(parse_qsl(body.decode(), keep_blank_values=True))
        return cls(request.method, request.path, params, _api_key(request) or params.get("key"))

    @property
    def publishable(self) -> bool:
        return (self.key or "").startswith("pk_")

    @property
    def expand(self) -> list[str]:
        return [value for name, value in self.params.items() if _param_name(name) == "expand"]

    def nested(self, name: str) -> dict[str, str]:
        """The parameters under `name[...]`, named as if at the top: `payment_method_data[card]
        [number]` is `card[number]` of `nested("payment_method_data")`."""
        prefix = f"{name}["
        nested = {}
        for key, value in self.params.items():
            if key.startswith(prefix):
                inner, _, rest = key.removeprefix(prefix).partition("]")
                nested[inner + rest] = value
        return nested


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery: the event, its body and signature as sent, and the answer (`status`
    None when nothing was sent: no target, or the target could not be reached)."""

    event_id: str
    type: str
    payload: bytes
    signature: str
    status: int | None
    answer: bytes


class StripeFake(FakeServer):
    """localstripe behind a Stripe edge; see the module's docstring."""

    def __init__(self) -> None:
        super().__init__(api_key=f"sk_test_{secrets.token_hex(12)}")
        self.publishable_key = f"pk_test_{secrets.token_hex(12)}"
        self.webhook_secret = f"whsec_{secrets.token_hex(16)}"
        self._relay_secret = f"whsec_{secrets.token_hex(16)}"
        self._process: subprocess.Popen[bytes] | None = None
        self._process_log: IO[bytes] | None = None
        self._localstripe: httpx.Client | None = None
        self._worker: threading.Thread | None = None
        self._outbox: queue.SimpleQueue[tuple[int, Delivery] | None] = queue.SimpleQueue()
        self._target: str | None = None
        self._deliveries: list[Delivery] = []
        self._generation = 0  # a reset() starts a new one: older deliveries are dropped
        self._enqueued = 0  # deliveries queued in this generation
        self._seen: set[str] = set()  # ids of the objects answered since the last reset()
        self._card_numbers: dict[str, str] = {}  # PaymentMethod id -> card number
        self._payment_errors: dict[str, dict[str, Any]] = {}  # PaymentIntent id -> its error
        self._descriptions: dict[str, str] = {}  # PaymentIntent id -> its description
        self._disputes: dict[str, dict[str, Any]] = {}

    @property
    def secret_key(self) -> str:
        return self.api_key

    # Lifecycle

    def start(self) -> Self:
        if not LOCALSTRIPE.exists():
            raise FileNotFoundError(
                f"{LOCALSTRIPE} is missing: make tests/.sdk/venv-localstripe/.installed"
            )
        port = free_port()
        # localstripe's output, for the error if it does not start; closed by stop()
        self._process_log = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            [LOCALSTRIPE, "--port", str(port), "--from-scratch"],
            stdin=subprocess.DEVNULL,
            stdout=self._process_log,
            stderr=subprocess.STDOUT,
        )
        self._localstripe = httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {self.secret_key}"},
            timeout=DELIVERY_TIMEOUT_SECONDS,
        )
        try:
            self._wait_for_localstripe()
            super().start()
            webhook = {"url": f"{self.url}{RELAY_PATH}", "secret": self._relay_secret}
            status, answer = self._post_json("/_config/webhooks/edge", data=webhook)
            if status != 200:
                raise RuntimeError(f"localstripe refused the webhook: {status} {answer}")
        except BaseException:
            self.stop()
            raise
        self._worker = threading.Thread(
            target=self._deliver_all, name=f"StripeFake deliveries {self.url}", daemon=True
        )
        self._worker.start()
        return self

    def stop(self) -> None:
        super().stop()
        if self._worker is not None:
            self._outbox.put(None)
            self._worker.join()
            self._worker = None
        if self._localstripe is not None:
            self._localstripe.close()
            self._localstripe = None
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
        if self._process_log is not None:
            self._process_log.close()
            self._process_log = None

    def reset(self) -> None:
        """Forget the deliveries, their target and the requests (between tests); what
        localstripe holds stays."""
        with self._changed:
            self.requests.clear()
            self._deliveries.clear()
            self._target = None
            self._generation += 1
            self._enqueued = 0
            self._seen.clear()

    # For the tests

    @property
    def calls(self) -> list[ApiCall]:
        """The API requests received, oldest first."""
        with self._changed:
            requests = list(self.requests)
        return [ApiCall.of(request) for request in requests if request.path.startswith("/v1/")]

    @property
    def deliveries(self) -> list[Delivery]:
        """The webhook deliveries made (or recorded unsent) since the last reset, oldest first."""
        with self._changed:
            return list(self._deliveries)

    def deliver_to(self, url: str | None) -> None:
        """Send events to `url` from now on; None: record them but send nothing."""
        with self._changed:
            self._target = url

    def wait_for_delivery(
        self, type: str, *, count: int = 1, timeout: float = DELIVERY_TIMEOUT_SECONDS
    ) -> Delivery:
        """The `count`-th delivery of an event of `type`, once it was answered (or recorded)."""

        def of_type() -> list[Delivery]:
            return [delivery for delivery in self._deliveries if delivery.type == type]

        with self._changed:
            if not self._changed.wait_for(lambda: len(of_type()) >= count, timeout):
                made = [delivery.type for delivery in self._deliveries]
                raise TimeoutError(f"StripeFake: no {count} × {type} in {timeout} s, only {made}")
            return of_type()[count - 1]

    def send_event(self, type: str, obj: dict[str, Any], *, wait: bool = True) -> Delivery:
        """Send a new event of `type` about `obj`, built and signed as Stripe's are; with `wait`,
        once answered, else at once (unanswered)."""
        return self._send(self._enqueue(self._event(type, self._complete(obj))), wait)

    def resend(self, delivery: Delivery, *, wait: bool = True) -> Delivery:
        """Send `delivery`'s event again, the same id and body signed with a fresh timestamp, as
        Stripe's retries are."""
        return self._send(self._put(delivery.event_id, delivery.type, delivery.payload), wait)

    def sign(
        self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None
    ) -> str:
        """The `Stripe-Signature` header of `payload`, signed with `secret` (default: the
        webhook secret) at `timestamp` (default: now)."""
        signed_at = int(time.time()) if timestamp is None else timestamp
        key = (secret or self.webhook_secret).encode()
        digest = hmac.new(key, f"{signed_at}.".encode() + payload, hashlib.sha256).hexdigest()
        return f"t={signed_at},v1={digest}"

    def confirm_with_card(
        self, payment_intent_id: str, client_secret: str, number: str = "4242424242424242"
    ) -> dict[str, Any]:
        """Confirm a PaymentIntent with a card as the Stripe.js addition does: the publishable
        key, the client secret and `payment_method_data`. The PaymentIntent, or the error
        envelope (`{"error": {...}}`) of a failure."""
        response = httpx.post(
            f"{self.url}/v1/payment_intents/{payment_intent_id}/confirm",
            data={
                "key": self.publishable_key,
                "client_secret": client_secret,
                "payment_method_data[type]": "card",
                **card_fields("payment_method_data[card]", number),
            },
            timeout=DELIVERY_TIMEOUT_SECONDS,
        )
        return response.json()

    def confirm_setup_with_card(
        self, client_secret: str, number: str = "4242424242424242"
    ) -> dict[str, Any]:
        """Confirm a SetupIntent with a card as Stripe.js's confirmCardSetup does, through
        localstripe's own confirm endpoint (and once more after the 3D Secure dialog, for a
        card that asks for it). The SetupIntent, or the error envelope of a failure."""
        setup_intent = client_secret.split("_secret_")[0]
        fields = {"key": self.publishable_key, "client_secret": client_secret}
        confirm = f"{self.url}/v1/setup_intents/{setup_intent}/confirm"
        data = {
            **fields,
            "payment_method_data[type]": "card",
            **card_fields("payment_method_data[card]", number),
        }
        confirmed = httpx.post(confirm, data=data, timeout=DELIVERY_TIMEOUT_SECONDS).json()
        if confirmed.get("status") == "requires_action":
            confirmed = httpx.post(confirm, data=fields, timeout=DELIVERY_TIMEOUT_SECONDS).json()
        return confirmed

    def dispute(
        self, charge_id: str, *, amount: int | None = None, reason: str = "fraudulent"
    ) -> dict[str, Any]:
        """Open a dispute of a charge, as a cardholder's bank does, and send
        `charge.dispute.created` (https://docs.stripe.com/api/disputes/object)."""
        charge = self._fetch(f"/v1/charges/{charge_id}")
        disputed = charge["amount"] if amount is None else amount
        now = int(time.time())
        dispute_id = f"dp_{secrets.token_hex(12)}"
        withdrawal = _balance_transaction(
            dispute_id, -disputed, charge["currency"], DISPUTE_FEE, "dispute", now
        )
        dispute = {
            "id": dispute_id,
            "object": "dispute",
            "amount": disputed,
            "balance_transactions": [withdrawal],
            "charge": charge_id,
            "created": now,
            "currency": charge["currency"],
            "evidence": dict.fromkeys(EVIDENCE_FIELDS),
            "evidence_details": {
                "due_by": now + EVIDENCE_DAYS * 86400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "is_charge_refundable": False,
            "livemode": False,
            "metadata": {},
            "payment_intent": charge.get("payment_intent"),
            "reason": reason,
            "status": "needs_response",
        }
        with self._changed:
            self._disputes[dispute_id] = dispute
        self._enqueue(self._event("charge.dispute.created", copy.deepcopy(dispute)))
        return copy.deepcopy(dispute)

    def close_dispute(self, dispute_id: str, status: Literal["won", "lost"]) -> dict[str, Any]:
        """Close a dispute as the bank decided, and send `charge.dispute.closed`. A dispute won
        gets its amount back (a second balance transaction)."""
        with self._changed:
            dispute = self._disputes[dispute_id]
            dispute["status"] = status
            if status == "won":
                dispute["balance_transactions"].append(
                    _balance_transaction(
                        dispute_id,
                        dispute["amount"],
                        dispute["currency"],
                        0,
                        "dispute_reversal",
                        int(time.time()),
                    )
                )
            closed = copy.deepcopy(dispute)
        self._enqueue(self._event("charge.dispute.closed", closed))
        return copy.deepcopy(closed)

    # FakeServer

    def routes(self) -> list[Route]:
        intent = r"/v1/payment_intents/(?P<intent>pi_\w+)"
        setup = r"/v1/setup_intents/(?P<intent>seti_\w+)"

        def route(
            method: str, pattern: str, name: str, handler: Any, public: bool = False
        ) -> Route:
            return Route(method, re.compile(pattern), name, handler, public)

        return [
            route("GET", r"/js\.stripe\.com/v3/?", "stripe_js", self._stripe_js, public=True),
            route("GET", r"/receipts/(?P<charge>ch_\w+)", "receipt", self._receipt, public=True),
            route("POST", RELAY_PATH, "relay", self._relay, public=True),
            route("POST", r"/v1/payment_intents", "payment_intent_create", self._create_intent),
            route("POST", rf"{intent}/confirm", "payment_intent_confirm", self._confirm_intent),
            route("GET", intent, "payment_intent_retrieve", self._client_side),
            route("POST", intent, "payment_intent_update", self._update_intent),
            # localstripe's Stripe.js ends its 3D Secure dialog with this call
            route(
                "POST", rf"{intent}/_authenticate", "payment_intent_authenticate", self._client_side
            ),
            route("GET", setup, "setup_intent_retrieve", self._client_side),
            # Stripe.js confirms a SetupIntent; localstripe's also cancels one on a failed 3D Secure
            route(
                "POST", rf"{setup}/(?:confirm|cancel)", "setup_intent_confirm", self._client_side
            ),
            route(
                "POST", r"/v1/(?:payment_methods|tokens|sources)", "payment_method", self._public
            ),
            route("POST", r"/v1/refunds", "refund_create", self._create_refund),
            route("GET", r"/v1/disputes/(?P<dispute>\w+)", "dispute", self._retrieve_dispute),
            *(
                route(method, r"/v1/.+", "api", self._secret)
                for method in ("GET", "POST", "DELETE")
            ),
        ]

    def error_reply(self, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return json_reply(status, _error(kind, message), retry_header(retry_after))

    def authorized(self, request: Recorded) -> bool:
        """Either key of this fake (which of them may call what is each route's to decide)."""
        return ApiCall.of(request).key in (self.secret_key, self.publishable_key)

    def _respond(self, request: Recorded, route: Route | None, groups: dict[str, str]) -> Reply:
        """Every answer carries a request id, and lets the page that asked read it (CORS)."""
        reply = super()._respond(request, route, groups)
        headers = {**reply.headers, "Request-Id": f"req_{secrets.token_hex(8)}"}
        if origin := request.headers.get("origin"):
            headers["Access-Control-Allow-Origin"] = origin
        return replace(reply, headers=headers)

    # Routes

    def _stripe_js(self, request: Recorded) -> Reply:
        response = self._client.get("/js.stripe.com/v3/")
        response.raise_for_status()
        script = response.content + b"\n" + JS_ADDON.read_bytes()
        return Reply(200, script, content_type="application/javascript; charset=utf-8")

    def _receipt(self, request: Recorded, charge: str) -> Reply:
        status, found = self._get_json(f"/v1/charges/{charge}")
        if status != 200:
            return Reply(404, b"No such receipt", content_type="text/plain")
        page = RECEIPT.format(
            charge=html.escape(charge),
            amount=html.escape(_money(found["amount"], found["currency"])),
            refunded=html.escape(_money(found["amount_refunded"], found["currency"])),
            date=time.strftime("%Y-%m-%d", time.gmtime(found["created"])),
            payment_intent=html.escape(found.get("payment_intent") or ""),
        )
        return Reply(200, page.encode(), content_type="text/html; charset=utf-8")

    def _relay(self, request: Recorded) -> Reply:
        """An event from localstripe: verified, completed, and delivered as Stripe's."""
        signature = request.headers.get("stripe-signature", "")
        timestamp = signature.partition(",")[0].removeprefix("t=")
        if not timestamp.isdigit() or not hmac.compare_digest(
            signature, self.sign(request.body, timestamp=int(timestamp), secret=self._relay_secret)
        ):
            return self.error_reply(400, "Bad signature")
        event = json.loads(request.body)
        subject = event["data"]["object"]
        with self._changed:
            current = subject.get("id") in self._seen
        if current:
            completed = self._complete(subject)
            if event["type"] == "payment_intent.succeeded" and completed.get("latest_charge"):
                # Stripe tells of the charge too, first; localstripe sends no charge events.
                charge = self._complete(self._fetch(f"/v1/charges/{completed['latest_charge']}"))
                self._enqueue(self._event("charge.succeeded", charge))
            self._enqueue(self._event(event["type"], completed, event["id"], event["created"]))
        return Reply(200)

    def _create_intent(self, request: Recorded) -> Reply:
        call = ApiCall.of(request)
        if call.publishable:
            return _publishable_refused()
        if refusal := _amount_refusal(call.params.get("amount"), call.params.get("currency")):
            return refusal
        # Created, then confirmed as POST .../confirm would be (localstripe's own confirmation
        # at creation knows neither the failures decided here nor off-session payments). It
        # has no `description` either, which Stripe takes and gives back: it is kept here.
        unconfirmed = {
            name: value
            for name, value in call.params.items()
            if _param_name(name) not in ("confirm", "off_session", "expand", "description")
        }
        status, created = self._post_json("/v1/payment_intents", data=unconfirmed)
        if status != 200:
            return self._json(status, created)
        with self._changed:
            self._descriptions[created["id"]] = call.params.get("description")
        if call.params.get("confirm") != "true":
            return self._json(200, self._complete(created, call.expand))
        return self._confirm(
            created["id"],
            payment_method=None,
            off_session=_truthy(call.params.get("off_session")),
            expand=call.expand,
        )

    def _update_intent(self, request: Recorded, intent: str) -> Reply:
        call = ApiCall.of(request)
        if call.publishable:
            return _publishable_refused()
        if "amount" in call.params:
            status, current = self._get_json(f"/v1/payment_intents/{intent}")
            if status != 200:
                return self._json(status, current)
            currency = call.params.get("currency", current["currency"])
            if refusal := _amount_refusal(call.params["amount"], currency):
                return refusal
        with self._changed:  # an update clears the last payment error, as Stripe's does
            self._payment_errors.pop(intent, None)
        return self._answer(self._forward(request), call)

    def _confirm_intent(self, request: Recorded, intent: str) -> Reply:
        call = ApiCall.of(request)
        unknown = sorted(name for name in call.params if _param_name(name) not in CONFIRM_PARAMS)
        if unknown:
            message = f"The Stripe fake does not implement confirming with {unknown[0]}."
            return _invalid(message, code="parameter_unknown", param=unknown[0])
        path = f"/v1/payment_intents/{intent}"
        if call.publishable and (refusal := self._client_secret_refusal(call, path)):
            return refusal
        payment_method = call.params.get("payment_method")
        if payment_method is None and (data := call.nested("payment_method_data")):
            status, created = self._post_json("/v1/payment_methods", data=data)
            if status != 200:
                return self._json(status, created)
            payment_method = created["id"]
            self._remember_card(payment_method, data.get("card[number]"))
        return self._confirm(
            intent,
            payment_method=payment_method,
            off_session=_truthy(call.params.get("off_session")),
            expand=call.expand,
        )

    def _client_side(self, request: Recorded, intent: str) -> Reply:
        """What Stripe.js calls: a publishable key must bring the intent's client secret."""
        call = ApiCall.of(request)
        setup = intent.startswith("seti_")
        path = f"/v1/{'setup_intents' if setup else 'payment_intents'}/{intent}"
        if call.publishable and (refusal := self._client_secret_refusal(call, path)):
            return refusal
        response = self._forward(request)
        if response.status_code == 200:
            number = call.params.get("payment_method_data[card][number]")
            self._remember_card(response.json().get("payment_method"), number)
        return self._answer(response, call, setup_intent=intent if setup else None)

    def _public(self, request: Recorded) -> Reply:
        """Creating a PaymentMethod (or a token, a source): either key."""
        call = ApiCall.of(request)
        response = self._forward(request)
        if response.status_code == 200:
            self._remember_card(response.json()["id"], call.params.get("card[number]"))
        return self._answer(response, call)

    def _secret(self, request: Recorded) -> Reply:
        """Any other endpoint: the secret key only."""
        call = ApiCall.of(request)
        if call.publishable:
            return _publishable_refused()
        return self._answer(self._forward(request), call)

    def _create_refund(self, request: Recorded) -> Reply:
        """A refund of what is left of a charge, or of part of it, and its `charge.refunded`.
        Stripe refunds what is left when no amount is given, and never more than that
        (https://docs.stripe.com/api/refunds/create); localstripe refunds the whole charge
        again either way."""
        call = ApiCall.of(request)
        if call.publishable:
            return _publishable_refused()
        charge = call.params.get("charge")
        if charge is None and "payment_intent" in call.params:
            status, intent = self._get_json(f"/v1/payment_intents/{call.params['payment_intent']}")
            charge = (intent.get("latest_charge") or {}).get("id") if status == 200 else None
        if charge is None:
            return self._answer(self._forward(request), call)  # localstripe's refusal
        if self._disputed(charge):
            message = f"Charge {charge} has been charged back; cannot issue a refund."
            return _invalid(message, code="charge_disputed", doc_url=_doc_url("charge_disputed"))
        found = self._fetch(f"/v1/charges/{charge}")
        left = found["amount"] - found["amount_refunded"]
        amount = int(call.params.get("amount") or left)
        if left <= 0:
            return _invalid(
                f"Charge {charge} has already been refunded.", code="charge_already_refunded"
            )
        if amount > left:
            message = (
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})"
            )
            return _invalid(message, code="amount_too_large", param="amount")
        status, refund = self._post_json("/v1/refunds", data=call.params | {"amount": str(amount)})
        if status == 200:
            refunded = self._complete(self._fetch(f"/v1/charges/{charge}"))
            self._enqueue(self._event("charge.refunded", refunded))
        return self._json(status, self._complete(refund))

    def _retrieve_dispute(self, request: Recorded, dispute: str) -> Reply:
        if ApiCall.of(request).publishable:
            return _publishable_refused()
        with self._changed:
            found = copy.deepcopy(self._disputes.get(dispute))
        if found is None:
            message = f"No such dispute: '{dispute}'"
            return json_reply(
                404, _error("invalid_request_error", message, code="resource_missing", param="id")
            )
        return self._json(200, found)

    # Confirmation

    def _confirm(
        self, intent: str, *, payment_method: str | None, off_session: bool, expand: list[str]
    ) -> Reply:
        status, found = self._get_json(f"/v1/payment_intents/{intent}")
        if status != 200:
            return self._json(status, found)
        if found["status"] not in CONFIRMABLE:
            return self._unexpected_state(
                "You cannot confirm this PaymentIntent because it has a status of "
                f"{found['status']}.",
                found,
            )
        if payment_method is None and found["status"] == "requires_payment_method":
            return self._unexpected_state(
                "You cannot confirm this PaymentIntent because it's missing a payment method. "
                "Update it with a payment_method, or confirm it with one.",
                found,
            )
        if payment_method is None:
            payment_method = found["payment_method"]
        else:  # a new attempt: localstripe takes its state reset through a JSON update
            self._update_state(intent, payment_method=payment_method)
        with self._changed:
            self._payment_errors.pop(intent, None)
            declined = DECLINED_ON_CHARGE.get(self._card_numbers.get(payment_method, ""))
        if declined is not None:
            return self._fail_payment(intent, payment_method, declined, expand)
        status, confirmed = self._post_json(f"/v1/payment_intents/{intent}/confirm")
        if status == 402:
            return self._json(402, {"error": self._card_error(confirmed["error"])})
        if status != 200:
            return self._json(status, confirmed)
        if confirmed["status"] == "requires_action" and off_session:
            return self._fail_payment(intent, payment_method, AUTHENTICATION_REQUIRED, expand)
        return self._json(200, self._payment_intent(intent, expand))

    def _unexpected_state(self, message: str, intent: dict[str, Any]) -> Reply:
        return _invalid(
            message,
            code="payment_intent_unexpected_state",
            doc_url=_doc_url("payment_intent_unexpected_state"),
            payment_intent=self._complete(intent),
        )

    def _fail_payment(
        self, intent: str, payment_method: str, failure: CardFailure, expand: list[str]
    ) -> Reply:
        """Fail a payment attempt as Stripe does: the PaymentIntent is back in
        requires_payment_method, with the error as its `last_payment_error`."""
        self._update_state(intent, payment_method=None)
        error = {
            "type": "card_error",
            "code": failure.code,
            "decline_code": failure.decline_code,
            "message": failure.message,
            "doc_url": _doc_url(failure.code),
            "payment_method": self._fetch(f"/v1/payment_methods/{payment_method}"),
        }
        with self._changed:
            self._payment_errors[intent] = error
        self._enqueue(self._event("payment_intent.payment_failed", self._payment_intent(intent)))
        failed = self._payment_intent(intent, expand)
        return self._json(402, {"error": {**error, "payment_intent": failed}})

    def _update_state(self, intent: str, *, payment_method: str | None) -> None:
        state = {"payment_method": payment_method, "latest_charge": None, "next_action": None}
        status, answer = self._post_json(f"/v1/payment_intents/{intent}", json_body=state)
        if status != 200:
            raise RuntimeError(f"localstripe refused to reset {intent}: {answer}")

    def _card_error(self, error: dict[str, Any], setup_intent: str | None = None) -> dict[str, Any]:
        """localstripe's card error (typed invalid_request_error, bare) as Stripe's."""
        completed = _typed_error(error, "card_error")
        if "charge" in error:
            charge = self._fetch(f"/v1/charges/{error['charge']}")
            method = self._fetch(f"/v1/payment_methods/{charge['payment_method']}")
            completed["payment_method"] = method
            if charge.get("payment_intent"):
                completed["payment_intent"] = self._payment_intent(charge["payment_intent"])
        if setup_intent is not None:
            completed["setup_intent"] = self._fetch(f"/v1/setup_intents/{setup_intent}")
        return completed

    def _client_secret_refusal(self, call: ApiCall, path: str) -> Reply | None:
        secret = call.params.get("client_secret")
        if secret is None:
            return _publishable_refused()
        status, intent = self._get_json(path)
        if status != 200:
            return self._json(status, intent)
        if hmac.compare_digest(secret, intent["client_secret"]):
            return None
        kind = "PaymentIntent" if intent["object"] == "payment_intent" else "SetupIntent"
        message = (
            "The client_secret provided does not match the client_secret associated with the "
            f"{kind}."
        )
        code = f"{intent['object']}_invalid_parameter"
        return _invalid(message, code=code, param="client_secret")

    # Answers

    def _complete(self, value: Any, expand: Collection[str] = ()) -> Any:
        """`value` (an answer of localstripe's, or an event's object) with the fields it lacks."""
        if isinstance(value, list):
            return [self._complete(item, expand) for item in value]
        if not isinstance(value, dict):
            return value
        completed = {name: self._complete(item, expand) for name, item in value.items()}
        if completed.get("object") == "payment_intent":
            with self._changed:
                completed["description"] = self._descriptions.get(completed["id"])
            succeeded = completed.get("status") == "succeeded"
            completed["amount_received"] = completed.get("amount") if succeeded else 0
            charge = completed.get("latest_charge")
            if isinstance(charge, dict) and "latest_charge" not in expand:
                completed["latest_charge"] = charge["id"]
            error = completed.get("last_payment_error")
            if error is None:  # perhaps a failure decided here
                with self._changed:
                    error = copy.deepcopy(self._payment_errors.get(completed["id"]))
            elif "type" not in error:  # localstripe's: a failed charge, or authentication
                error = _typed_error(
                    error, "card_error" if "charge" in error else "invalid_request_error"
                )
            completed["last_payment_error"] = error
        elif completed.get("object") == "charge":
            completed["receipt_url"] = f"{self.url}/receipts/{completed['id']}"
            completed.setdefault("payment_intent", None)
            completed["disputed"] = self._disputed(completed["id"])
        return completed

    def _answer(
        self, response: httpx.Response, call: ApiCall, *, setup_intent: str | None = None
    ) -> Reply:
        """localstripe's answer to a forwarded request, as Stripe would give it."""
        if not response.headers.get("content-type", "").startswith("application/json"):
            content_type = response.headers.get("content-type", "text/plain")
            return Reply(response.status_code, response.content, content_type=content_type)
        answer = response.json()
        if response.status_code == 402:
            return self._json(402, {"error": self._card_error(answer["error"], setup_intent)})
        return self._json(response.status_code, self._complete(answer, call.expand))

    def _json(self, status: int, answer: Any) -> Reply:
        with self._changed:
            self._seen.update(_object_ids(answer))
        return json_reply(status, answer)

    def _payment_intent(self, intent: str, expand: list[str] | None = None) -> dict[str, Any]:
        params = {f"expand[{index}]": path for index, path in enumerate(expand or [])}
        return self._complete(self._fetch(f"/v1/payment_intents/{intent}", params), expand or ())

    def _remember_card(self, payment_method: str | None, number: str | None) -> None:
        if payment_method is not None and number is not None:
            with self._changed:
                self._card_numbers[payment_method] = number

    def _disputed(self, charge: str) -> bool:
        with self._changed:
            return any(dispute["charge"] == charge for dispute in self._disputes.values())

    # localstripe

    @property
    def _client(self) -> httpx.Client:
        if self._localstripe is None:
            raise RuntimeError("StripeFake is not started")
        return self._localstripe

    def _wait_for_localstripe(self) -> None:
        assert self._process is not None and self._process_log is not None
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline and self._process.poll() is None:
            try:
                if self._client.get("/js.stripe.com/v3/").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.05)
        self._process_log.seek(0)
        log = self._process_log.read().decode(errors="replace")
        raise RuntimeError(f"localstripe did not start in {STARTUP_SECONDS} s:\n{log}")

    def _forward(self, request: Recorded) -> httpx.Response:
        """`request` as it came, with the secret key (this fake enforced the keys' rules)."""
        headers = {}
        if content_type := request.headers.get("content-type"):
            headers["Content-Type"] = content_type
        return self._client.request(
            request.method,
            request.path,
            params=request.query,
            content=request.body,
            headers=headers,
        )

    def _get_json(self, path: str, params: dict[str, str] | None = None) -> tuple[int, Any]:
        response = self._client.get(path, params=params)
        return response.status_code, response.json()

    def _post_json(
        self, path: str, *, data: dict[str, str] | None = None, json_body: Any = None
    ) -> tuple[int, Any]:
        response = self._client.post(path, data=data, json=json_body)
        return response.status_code, response.json() if response.content else None

    def _fetch(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        status, found = self._get_json(path, params)
        if status != 200:
            raise RuntimeError(f"localstripe answered {status} to GET {path}: {found}")
        return found

    # Webhooks

    def _event(
        self,
        type: str,
        obj: dict[str, Any],
        event_id: str | None = None,
        created: int | None = None,
    ) -> dict[str, Any]:
        return {
            "id": event_id or f"evt_{secrets.token_hex(12)}",
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()) if created is None else created,
            "data": {"object": obj},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type,
        }

    def _enqueue(self, event: dict[str, Any]) -> tuple[int, Delivery]:
        return self._put(event["id"], event["type"], json.dumps(event, indent=2).encode())

    def _put(self, event_id: str, type: str, payload: bytes) -> tuple[int, Delivery]:
        """Queue a delivery; its index among this generation's deliveries, and it (unsent)."""
        delivery = Delivery(event_id, type, payload, self.sign(payload), None, b"")
        with self._changed:
            index = self._enqueued
            self._enqueued += 1
            self._outbox.put((self._generation, delivery))
        return index, delivery

    def _send(self, queued: tuple[int, Delivery], wait: bool) -> Delivery:
        index, delivery = queued
        if not wait:
            return delivery
        with self._changed:
            if not self._changed.wait_for(
                lambda: len(self._deliveries) > index, DELIVERY_TIMEOUT_SECONDS
            ):
                raise TimeoutError(f"StripeFake: {delivery.type} not delivered")
            return self._deliveries[index]

    def _deliver_all(self) -> None:
        """The delivery thread: one event at a time, in the order they were queued."""
        with httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS) as client:
            while (queued := self._outbox.get()) is not None:
                generation, delivery = queued
                with self._changed:
                    if generation != self._generation:
                        continue
                    target = self._target
                if target is not None:
                    delivery = _post_delivery(client, target, delivery)
                with self._changed:
                    if generation == self._generation:
                        self._deliveries.append(delivery)
                        self._changed.notify_all()


def _post_delivery(client: httpx.Client, target: str, delivery: Delivery) -> Delivery:
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Stripe-Signature": delivery.signature,
        "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
    }
    try:
        response = client.post(target, content=delivery.payload, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        return replace(delivery, answer=f"{type(error).__name__}: {error}".encode())
    return replace(delivery, status=response.status_code, answer=response.content)


def _api_key(request: Recorded) -> str | None:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme == "Bearer":
        return credentials
    if scheme == "Basic":
        return base64.b64decode(credentials).decode().partition(":")[0]
    return None


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """A JSON body as form parameters: `{"card": {"number": "42"}}` is `card[number]=42`."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _flatten(item, f"{prefix}[{name}]" if prefix else name)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{index}]")
    elif isinstance(value, bool):
        yield prefix, "true" if value else "false"
    else:
        yield prefix, "" if value is None else str(value)


def _param_name(name: str) -> str:
    return name.partition("[")[0]


def _truthy(value: str | None) -> bool:
    """`off_session`: true, or the older one_off and recurring."""
    return value in ("true", "one_off", "recurring")


def _object_ids(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        if "object" in value and isinstance(value.get("id"), str):
            yield value["id"]
        for item in value.values():
            yield from _object_ids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _object_ids(item)


def _error(type: str, message: str, **fields: Any) -> dict[str, Any]:
    return {"error": {"type": type, "message": message, **fields}}


def _invalid(message: str, **fields: Any) -> Reply:
    return json_reply(400, _error("invalid_request_error", message, **fields))


def _publishable_refused() -> Reply:
    return json_reply(
        401,
        _error(
            "invalid_request_error",
            PUBLISHABLE_KEY_REFUSED,
            code="secret_key_required",
            doc_url=_doc_url("secret_key_required"),
        ),
    )


def _amount_refusal(amount: str | None, currency: str | None) -> Reply | None:
    minimum = MINIMUM_CHARGE.get((currency or "").lower())
    if minimum is None or amount is None or not amount.isdigit() or int(amount) >= minimum:
        return None
    message = f"Amount must be at least {_money(minimum, currency or '')} {currency}"
    return _invalid(
        message, code="amount_too_small", param="amount", doc_url=_doc_url("amount_too_small")
    )


def _typed_error(error: dict[str, Any], type: str) -> dict[str, Any]:
    """A localstripe error as Stripe's: of `type`, and a decline with its decline code."""
    typed = {**error, "type": type}
    if typed.get("code") == "card_declined":
        typed.setdefault("decline_code", "generic_decline")
    if "code" in typed:
        typed.setdefault("doc_url", _doc_url(typed["code"]))
    return typed


def _doc_url(code: str) -> str:
    return f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"


def _money(amount: int, currency: str) -> str:
    sign = CURRENCY_SIGNS.get(currency.lower(), "")
    return f"{sign}{amount / 100:.2f}" if sign else f"{amount / 100:.2f} {currency.upper()}"


def _balance_transaction(
    dispute: str, amount: int, currency: str, fee: int, category: str, created: int
) -> dict[str, Any]:
    return {
        "id": f"txn_{secrets.token_hex(12)}",
        "object": "balance_transaction",
        "amount": amount,
        "currency": currency,
        "created": created,
        "fee": fee,
        "net": amount - fee,
        "reporting_category": category,
        "source": dispute,
        "status": "available",
        "type": "adjustment",
    }


def card_fields(prefix: str, number: str) -> dict[str, str]:
    """A test card as form fields under `prefix`, as Stripe.js sends them:
    `card_fields("card", n)` is `{"card[number]": n, "card[exp_month]": "12", ...}`."""
    card = {"number": number, **TEST_CARD_EXPIRY}
    return {f"{prefix}[{name}]": value for name, value in card.items()}
