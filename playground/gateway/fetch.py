"""Fetching images by URL: provider results, and input images a caller names by URL.

Only http(s) and data: URLs, with a size cap and the pooled client's timeouts. URLs that come from
callers (not from a provider) must also point at a public address, so that nobody can make the
server fetch from inside its own network.
"""

import asyncio
import base64
import binascii
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from playground.providers.base import ProviderUnavailable


class FetchRefused(ValueError):
    """The URL is not one the gateway will fetch, or what it points at is not acceptable."""


async def fetch_bytes(
    url: str, client: httpx.AsyncClient, *, max_bytes: int, public_only: bool = False
) -> bytes:
    """The bytes behind `url`, at most `max_bytes`; `FetchRefused` or `ProviderUnavailable`."""
    if url.startswith("data:"):
        return _decode_data_url(url, max_bytes=max_bytes)
    if public_only:
        await require_public_url(url)
    elif urlsplit(url).scheme not in ("http", "https"):
        raise FetchRefused("only http(s) and data: URLs can be fetched")
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != httpx.codes.OK:
                raise ProviderUnavailable(
                    f"fetching an image answered HTTP {response.status_code}",
                    status=response.status_code,
                )
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchRefused(f"the image is larger than {max_bytes:,} bytes")
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"fetching an image failed: {type(exc).__name__}") from exc
    return b"".join(chunks)


def _decode_data_url(url: str, *, max_bytes: int) -> bytes:
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise FetchRefused("data: URLs must be base64-encoded")
    if len(payload) * 3 // 4 > max_bytes:
        raise FetchRefused(f"the image is larger than {max_bytes:,} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except binascii.Error as exc:
        raise FetchRefused("the data: URL is not valid base64") from exc


async def require_public_url(url: str) -> None:
    """`FetchRefused` unless `url` is http(s) and its host resolves to public addresses only
    (any address when `FETCH_ALLOW_PRIVATE_HOSTS` is on)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("only http(s) URLs can be used")
    if settings.FETCH_ALLOW_PRIVATE_HOSTS:
        return
    host, port = parts.hostname, parts.port or 443
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchRefused(f"cannot resolve {host}") from exc
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            raise FetchRefused(f"{host} is not a public address")
