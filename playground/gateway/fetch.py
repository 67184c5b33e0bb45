"""Fetching images by URL: provider results, and input images a caller names by URL.

Only http(s) and data: URLs, with a size cap and the pooled client's timeouts. URLs that come from
callers (not from a provider) must also point at a public address, so that nobody can make the
server fetch from inside its own network.
"""

import asyncio
import base64
import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

import httpx
from django.conf import settings

from playground.providers.base import ProviderUnavailable

DEFAULT_DEADLINE_SECONDS = 120.0


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
    elif _split(url).scheme not in ("http", "https"):
        raise FetchRefused("only http(s) and data: URLs can be fetched")
    try:
        request = client.build_request("GET", url)
    except (httpx.InvalidURL, ValueError) as exc:  # ValueError: a host IDNA cannot encode
        raise FetchRefused("the URL is not valid") from exc
    # Each read may take the client's read timeout, and so may the whole fetch: a server that
    # drips bytes would otherwise hold the job for as long as it likes.
    deadline = client.timeout.read or DEFAULT_DEADLINE_SECONDS
    try:
        async with asyncio.timeout(deadline):
            chunks = await _download(client, request, max_bytes=max_bytes)
    except TimeoutError as exc:
        raise ProviderUnavailable(f"fetching an image took longer than {deadline:g} s") from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"fetching an image failed: {type(exc).__name__}") from exc
    return b"".join(chunks)


async def _download(
    client: httpx.AsyncClient, request: httpx.Request, *, max_bytes: int
) -> list[bytes]:
    response = await client.send(request, stream=True)
    try:
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
        return chunks
    finally:
        await response.aclose()


def _decode_data_url(url: str, *, max_bytes: int) -> bytes:
    header, _, payload = url.partition(",")
    if not header.endswith(";base64"):
        raise FetchRefused("data: URLs must be base64-encoded")
    if len(payload) * 3 // 4 > max_bytes:
        raise FetchRefused(f"the image is larger than {max_bytes:,} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except ValueError as exc:  # binascii.Error, or characters outside ASCII
        raise FetchRefused("the data: URL is not valid base64") from exc


def _split(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError as exc:  # a malformed IPv6 host
        raise FetchRefused("the URL is not valid") from exc


async def require_public_url(url: str) -> None:
    """`FetchRefused` unless `url` is http(s) and its host resolves to public addresses only
    (any address when `FETCH_ALLOW_PRIVATE_HOSTS` is on)."""
    parts = _split(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchRefused("only http(s) URLs can be used")
    try:
        port = parts.port or 443
    except ValueError as exc:
        raise FetchRefused("the URL's port is not valid") from exc
    if settings.FETCH_ALLOW_PRIVATE_HOSTS:
        return
    host = parts.hostname
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # UnicodeError: a host name IDNA cannot encode
        raise FetchRefused(f"cannot resolve {host}") from exc
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            raise FetchRefused(f"{host} is not a public address")
