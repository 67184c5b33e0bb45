"""Stripe, through its official library. The only module that builds a client.

The library pins the API version it speaks (`stripe.api_version`); the webhook endpoint in
Stripe's dashboard should be on the same version (docs/stripe.md lists the fields read).
"""

from functools import cache
from urllib.parse import urlsplit

import stripe
from django.conf import settings

# What Stripe.js needs a page to allow, besides the script's and the API's own origins
# (https://docs.stripe.com/security/guide#content-security-policy): 3D Secure's frames.
STRIPE_FRAME_ORIGINS = ("https://hooks.stripe.com",)
TIMEOUT_SECONDS = 20
NETWORK_RETRIES = 2  # the library retries with the same idempotency key, so a retry pays once

CardError = stripe.CardError
SignatureVerificationError = stripe.SignatureVerificationError
StripeError = stripe.StripeError
# Stripe out of reach, busy or failing on its side: worth asking again later.
PASSING_ERRORS = (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError)


def configured() -> bool:
    """Whether card payments are set up: both keys and the webhook's secret."""
    return bool(
        settings.STRIPE_SECRET_KEY
        and settings.STRIPE_PUBLISHABLE_KEY
        and settings.STRIPE_WEBHOOK_SECRET
    )


def client() -> stripe.StripeClient:
    return _client(settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE)


@cache
def _client(secret_key: str, api_base: str) -> stripe.StripeClient:
    return stripe.StripeClient(
        secret_key,
        base_addresses={"api": api_base},
        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
        max_network_retries=NETWORK_RETRIES,
    )


def webhook_event(*, payload: bytes, signature: str | None) -> stripe.Event:
    """The event a webhook delivered, if `Stripe-Signature` proves it came from Stripe for
    this endpoint within the library's tolerance (five minutes); raises
    `SignatureVerificationError` or `ValueError` otherwise."""
    return stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)


def content_security_policy(base: dict[str, list[str]]) -> dict[str, list[str]]:
    """`base` (the site's policy) opened to Stripe.js, its frames and Stripe's API."""
    script = _origin(settings.STRIPE_JS_URL)
    return base | {
        "script-src": [*base.get("script-src", []), script],
        "frame-src": [script, *STRIPE_FRAME_ORIGINS],
        "connect-src": [*base.get("connect-src", []), _origin(settings.STRIPE_API_BASE)],
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
