"""Calling a caller's `webhook_url` when an async generation finishes, as Standard Webhooks
says (docs/openai-api.md, "Webhooks"): the status object as the body, signed with its owner's
webhook secret, under a `webhook-id` that stays the same on every attempt.

Each attempt is recorded as a `WebhookDelivery`. A 2xx ends it, and so does a 410 Gone (the
receiver wants no more) or a URL that is refused (not public); any other answer, or none, is
tried again after the next of `RETRY_DELAYS` (or the answer's `Retry-After`, if longer, up to
the last of them), by a task queued for then (tasks.py), so retries outlive the process that
made the first attempt.
"""

import asyncio
import base64
import hmac
import json
import logging
import time
from datetime import timedelta

import httpx
from asgiref.sync import sync_to_async
from django.utils import timezone

from playground.accounts.models import WebhookSecret
from playground.accounts.services import webhook_secret_get
from playground.providers._http import retry_after
from playground.providers.clients import client_for

from .fetch import FetchRefused, public_send
from .models import Generation, WebhookDelivery, webhook_message_id
from .responses import status_body

logger = logging.getLogger(__name__)

# The waits before the 2nd, 3rd, ... attempt: the start of the spec's example schedule.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
)
TIMEOUT_SECONDS = 15.0  # the whole attempt, answer included (the spec suggests 15 to 30 s)
EXCERPT_CHARS = 200
GONE = 410


async def webhook_attempt(*, generation: Generation, attempt: int) -> WebhookDelivery:
    """Make attempt number `attempt` (1 for the first) and record it; the record's
    `next_attempt_at` says when to try again, if at all."""
    body = json.dumps(await status_body(generation), separators=(",", ":")).encode()
    webhook_secret = await sync_to_async(webhook_secret_get)(user_id=generation.user_id)
    message_id = webhook_message_id(generation.pk)
    sent_at = timezone.now()
    timestamp = int(sent_at.timestamp())
    headers = {
        "Content-Type": "application/json",
        "X-Generation-Id": str(generation.pk),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signature(
            secrets=webhook_secret.signing_secrets,
            message_id=message_id,
            timestamp=timestamp,
            body=body,
        ),
    }
    status_code, excerpt, wait_seconds, error, refused = None, "", None, "", False
    started = time.monotonic()
    try:
        status_code, excerpt, wait_seconds = await webhook_post(
            generation.params["webhook_url"], body=body, headers=headers
        )
    except FetchRefused as exc:
        error, refused = f"refused: {exc}", True
    except TimeoutError:
        error = f"no answer in {TIMEOUT_SECONDS:g} s"
    except httpx.HTTPError as exc:
        error = type(exc).__name__
    succeeded = status_code is not None and httpx.codes.is_success(status_code)
    retry = not (succeeded or refused or status_code == GONE) and attempt <= len(RETRY_DELAYS)
    delivery = await WebhookDelivery.objects.acreate(
        generation=generation,
        attempt=attempt,
        sent_at=sent_at,
        status_code=status_code,
        response_excerpt=excerpt,
        error=error[:EXCERPT_CHARS],
        duration_ms=round((time.monotonic() - started) * 1000),
        next_attempt_at=sent_at + _delay(attempt, wait_seconds) if retry else None,
    )
    logger.info(
        "webhook attempt",
        extra={
            "generation": str(generation.pk),
            "attempt": attempt,
            "status_code": status_code,
            "retry": retry,
        },
    )
    return delivery


async def webhook_post(
    url: str, *, body: bytes, headers: dict[str, str]
) -> tuple[int, str, float | None]:
    """POST `body` to the address `url`'s host was checked to have (`fetch.public_send`;
    `FetchRefused` if it is not public): the answer's status, the start of its body and its
    `Retry-After` in seconds. `TimeoutError` after `TIMEOUT_SECONDS` in all."""
    client = client_for("webhooks")
    async with asyncio.timeout(TIMEOUT_SECONDS):
        request = client.build_request("POST", url, content=body, headers=headers)
        response = await public_send(client, request, stream=True)
        try:
            start = b""
            async for chunk in response.aiter_bytes():
                start += chunk
                if len(start) >= EXCERPT_CHARS:
                    break
        finally:
            await response.aclose()
    excerpt = start[:EXCERPT_CHARS].decode(errors="replace")
    return response.status_code, excerpt, retry_after(response.headers, None)


def _delay(attempt: int, wait_seconds: float | None) -> timedelta:
    """The wait before the attempt after `attempt`: the schedule's, or what the receiver asked
    for if that is longer (at most the schedule's longest)."""
    asked = timedelta(seconds=min(wait_seconds or 0, RETRY_DELAYS[-1].total_seconds()))
    return max(RETRY_DELAYS[attempt - 1], asked)


def webhook_signature(*, secrets: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: `v1,` and the base64 HMAC-SHA256 of `id.timestamp.body`, one per
    secret, separated by spaces."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return " ".join(f"v1,{_hmac_base64(secret, signed)}" for secret in secrets)


def _hmac_base64(secret: str, data: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(WebhookSecret.PREFIX))
    return base64.b64encode(hmac.digest(key, data, "sha256")).decode()
