"""Calling a caller's `webhook_url` when an async generation finishes."""

import asyncio
import logging

import httpx

from playground.providers.clients import client_for

from .fetch import FetchRefused, public_send
from .models import Generation
from .responses import status_body

logger = logging.getLogger(__name__)

ATTEMPTS = 3
FIRST_DELAY_SECONDS = 1.0


async def webhook_deliver(*, generation: Generation) -> bool:
    """POST the generation's status object to its webhook; a few tries with backoff."""
    url = generation.params["webhook_url"]
    body = await status_body(generation)
    client = client_for("webhooks")
    for attempt in range(ATTEMPTS):
        try:
            request = client.build_request(
                "POST",
                url,
                json=body,
                headers={"X-Generation-Id": str(generation.pk)},
                timeout=10.0,
            )
            response = await public_send(client, request)
            if response.is_success:
                return True
        except FetchRefused:
            logger.warning("webhook refused", extra={"generation": str(generation.pk)})
            return False
        except httpx.HTTPError:
            pass
        await asyncio.sleep(FIRST_DELAY_SECONDS * 2**attempt)
    logger.warning("webhook not delivered", extra={"generation": str(generation.pk)})
    return False
