"""Fetching images by URL: provider results, and input images a caller names by URL.

Only http(s) and data: URLs, with a size cap and the pooled client's timeouts. URLs that come from
callers (not from a provider) must also point at a public address, so that nobody can make the
server fetch from inside its own network, and are sent to the address that was checked
(`public_send`), so that a second lookup cannot answer another one.
"""

import asyncio
import base64
import ipaddress
import socket

import httpx
from django.conf import settings

from playground.providers.base import ProviderUnavailable

DEFAULT_DEADLINE_SECONDS = 120.0
# IPv6 prefixes whose last 32 bits are the IPv4 address a packet is delivered to:
# IPv4-compatible (RFC 4291 2.5.5.1), IPv4-translated (RFC 2765 2.1) and NAT64 (RFC 6052 2.1).
IPV4_IN_LAST_32_BITS = [
    ipaddress.IPv6Network(prefix) for prefix in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96")
]


class FetchRefused(ValueError):
    """The URL is not one the gateway will fetch, or what it points at is not acceptable."""


async def fetch_bytes(
    url: str, client: httpx.AsyncClient, *, max_bytes: int, public_only: bool = False
) -> bytes:
    """The bytes behind `url`, at most `max_bytes`; `FetchRefused` or `ProviderUnavailable`."""
    if url.startswith("data:"):
        return _decode_data_url(url, max_bytes=max_bytes)
    request = client.build_request("GET", _parsed(url))
    # Each read may take the client's read timeout, and so may the whole fetch: a server that
    # drips bytes would otherwise hold the job for as long as it likes.
    deadline = client.timeout.read or DEFAULT_DEADLINE_SECONDS
    try:
        async with asyncio.timeout(deadline):
            chunks = await _download(client, request, max_bytes=max_bytes, public_only=public_only)
    except TimeoutError as exc:
        raise ProviderUnavailable(f"fetching an image took longer than {deadline:g} s") from exc
    except httpx.HTTPError as exc:
        raise ProviderUnavailable(f"fetching an image failed: {type(exc).__name__}") from exc
    return b"".join(chunks)


async def _download(
    client: httpx.AsyncClient, request: httpx.Request, *, max_bytes: int, public_only: bool
) -> list[bytes]:
    if public_only:
        response = await public_send(client, request, stream=True)
    else:
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


def _parsed(url: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError) as exc:  # ValueError: a host IDNA cannot encode
        raise FetchRefused("the URL is not valid") from exc
    _check_http(parsed)
    return parsed


def _check_http(url: httpx.URL) -> None:
    if url.scheme not in ("http", "https") or not url.raw_host:
        raise FetchRefused("only http(s) URLs can be used")


async def require_public_url(url: str) -> None:
    """`FetchRefused` unless `url` is http(s) and its host resolves to public addresses only
    (any address when `FETCH_ALLOW_PRIVATE_HOSTS` is on): the check made when a caller names
    the URL, so that a bad one is refused before the job is queued."""
    await _checked_address(_parsed(url))


async def public_send(
    client: httpx.AsyncClient, request: httpx.Request, *, stream: bool = False
) -> httpx.Response:
    """Send `request`, whose URL a caller chose, to the address its host was checked to have.

    httpx would resolve the host again when it connects, and a name can answer a public address
    to the check and a private one to that second lookup (DNS rebinding). So the URL is rewritten
    to the checked address, while the Host header (set when the request was built) and the TLS
    server name keep the host. Connections are pooled by address, so the request asks for its
    connection to be closed: another host at the same address must not ride a TLS session made
    for this one. Redirects are never followed. `FetchRefused` as `require_public_url`.
    """
    address = await _checked_address(request.url)
    request.extensions["sni_hostname"] = request.url.raw_host.decode("ascii")
    request.url = request.url.copy_with(host=str(address))
    request.headers["Connection"] = "close"
    return await client.send(request, stream=stream, follow_redirects=False)


async def _checked_address(url: httpx.URL) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The first address `url`'s host resolves to, once all of them are found public."""
    _check_http(url)
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    if not 0 < port < 65536:
        raise FetchRefused("the URL's port is not valid")
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise FetchRefused(f"cannot resolve {host}") from exc
    addresses = [ipaddress.ip_address(sockaddr[0]) for *_, sockaddr in infos]
    if not settings.FETCH_ALLOW_PRIVATE_HOSTS and not all(map(is_public, addresses)):
        raise FetchRefused(f"{host} is not a public address")
    return addresses[0]


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether `address` is globally reachable, and so is every IPv4 address it embeds: an
    IPv6 address that carries one is delivered to that IPv4 address (by the host itself, a
    translator or a tunnel), so ::ffff:127.0.0.1 or 64:ff9b::7f00:1 is loopback."""
    if not address.is_global:
        return False
    if address.version == 4:
        return True
    embedded = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in prefix for prefix in IPV4_IN_LAST_32_BITS):
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return all(ipv4.is_global for ipv4 in embedded if ipv4 is not None)
