"""URLs a caller names (input images, webhooks) reach public addresses only: refused when the
job is submitted, and fetched from the very address that was checked, so that a name answering
a public address to the check and a private one afterwards (DNS rebinding) gets nowhere.

The network is scripted at the stdlib level: `socket.getaddrinfo` answers the test names from a
list, and `socket.socket.connect` records where each connection goes and refuses any that
leaves the machine.
"""

import asyncio
import ipaddress
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import trustme

from playground.gateway.fetch import fetch_bytes, is_public
from playground.gateway.models import Generation
from tests import factories

EDIT_MODEL = "qwen-image-edit-plus"


class Network:
    """Answers for test names, in turn (the last one repeats; none: no such name), and every
    connection made."""

    def __init__(self, monkeypatch):
        self.answers: dict[str, list[str]] = {}
        self.lookups: list[str] = []
        self.connections: list[tuple[str, int]] = []
        real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

        def getaddrinfo(host, port, *args, **kwargs):
            name = host.decode() if isinstance(host, bytes) else host  # anyio passes bytes
            if name not in self.answers:
                return real_getaddrinfo(host, port, *args, **kwargs)
            self.lookups.append(name)
            answers = self.answers[name]
            if not answers:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
            address = answers.pop(0) if len(answers) > 1 else answers[0]
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            return [(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

        def connect(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                self.connections.append(address[:2])
                if not ipaddress.ip_address(address[0]).is_loopback:
                    raise ConnectionRefusedError("tests do not leave the machine")
            return real_connect(sock, address)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture
def network(monkeypatch):
    return Network(monkeypatch)


class Receiver(BaseHTTPRequestHandler):
    """Serves a PNG to GETs and takes POSTs, noting each request's Host header and path."""

    seen: list[tuple[str, str, str]] = []

    def do_GET(self):
        self._answer(factories.png_bytes())

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self._answer(b"")

    def _answer(self, body: bytes):
        Receiver.seen.append((self.command, self.headers["Host"], self.path))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def receiver():
    """A `Receiver` on 127.0.0.1: its port."""
    Receiver.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def api(asgi_server, api_key):
    with factories.api_client(asgi_server, api_key, timeout=60) as client:
        yield client


def later(api, **body):
    """POST an async generation (its job runs before the answer comes)."""
    return api.post(
        "/images/generations",
        json={"model": "qwen-image", "prompt": "later", **body},
        headers={"Prefer": "respond-async"},
    )


def assert_refused(response, param: str, reason: str):
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", param)
    assert reason in error["message"]
    assert not Generation.objects.exists()


EMBEDDED_LOOPBACK = [
    "::127.0.0.1",  # IPv4-compatible
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:0:7f00:1",  # IPv4-translated
    "64:ff9b::7f00:1",  # NAT64
    "64:ff9b:1::7f00:1",  # local-use NAT64
    "2002:7f00:1::",  # 6to4
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
]


@pytest.mark.parametrize("address", EMBEDDED_LOOPBACK)
def test_ipv6_forms_of_a_private_ipv4_address_are_a_400_at_submit(api, address):
    response = later(api, webhook_url=f"http://[{address}]:8000/hook")

    assert_refused(response, "webhook_url", "is not a public address")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("::8.8.8.8", True),
        ("::ffff:8.8.8.8", True),
        ("::ffff:0:808:808", True),
        ("64:ff9b::808:808", True),
        ("2606:4700::1111", True),
        ("8.8.8.8", True),
        ("::ffff:10.0.0.1", False),
        ("64:ff9b::a9fe:a9fe", False),  # 169.254.169.254, the cloud metadata service
        ("::ffff:0:a00:1", False),
        ("::1", False),
        ("100.64.0.1", False),
    ],
)
def test_an_embedded_ipv4_address_decides_along_with_the_ipv6_one(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


@pytest.mark.parametrize("url", ["http://localhost:8000/hook", "http://10.1.2.3/hook"])
def test_a_private_webhook_url_is_a_400_at_submit(api, url):
    assert_refused(later(api, webhook_url=url), "webhook_url", "is not a public address")


def test_a_webhook_url_that_does_not_resolve_is_a_400_at_submit(api, network):
    network.answers["hooks.example"] = []

    response = later(api, webhook_url="http://hooks.example/hook")

    assert_refused(response, "webhook_url", "cannot resolve hooks.example")


def test_a_private_image_url_is_a_400_at_submit(api, receiver):
    response = api.post(
        "/images/edits",
        json={"model": EDIT_MODEL, "prompt": "x", "image": f"http://localhost:{receiver}/a.png"},
    )

    assert_refused(response, "image", "is not a public address")
    assert Receiver.seen == []


def test_an_image_url_that_rebinds_is_fetched_from_the_checked_address(api, network, receiver):
    network.answers["images.example"] = ["8.8.8.8", "127.0.0.1"]

    response = api.post(
        "/images/edits",
        json={"model": EDIT_MODEL, "prompt": "x", "image": f"http://images.example:{receiver}/a"},
    )

    assert_refused(response, "image", "fetching an image failed: ConnectError")
    assert network.lookups == ["images.example"]
    assert network.connections[-1] == ("8.8.8.8", receiver)
    assert Receiver.seen == []


def test_a_webhook_that_rebinds_after_submit_is_not_called(api, network, receiver):
    network.answers["hooks.example"] = ["8.8.8.8", "127.0.0.1"]

    response = later(api, webhook_url=f"http://hooks.example:{receiver}/hook")

    assert response.status_code == 202, response.text
    assert network.lookups == ["hooks.example", "hooks.example"]  # at submit, then to send
    assert ("127.0.0.1", receiver) not in network.connections
    assert Receiver.seen == []


def test_a_webhook_goes_to_the_checked_address_with_its_host_header(
    api, network, receiver, settings
):
    settings.FETCH_ALLOW_PRIVATE_HOSTS = True
    network.answers["hooks.example"] = ["127.0.0.1", "127.0.0.1", "10.9.9.9"]

    response = later(api, webhook_url=f"http://hooks.example:{receiver}/hook")

    assert response.status_code == 202, response.text
    assert Receiver.seen == [("POST", f"hooks.example:{receiver}", "/hook")]
    assert ("10.9.9.9", receiver) not in network.connections


class TLSReceiver(Receiver):
    server_names: list[str | None] = []


@pytest.fixture
def tls_receiver():
    """A `Receiver` over TLS on 127.0.0.1 with a certificate for images.example: its port and
    the client context that trusts it."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("images.example").configure_cert(context)
    TLSReceiver.server_names = []
    context.sni_callback = lambda sock, name, ctx: TLSReceiver.server_names.append(name)
    Receiver.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), TLSReceiver)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    yield server.server_address[1], client_context
    server.shutdown()
    server.server_close()


def test_an_https_fetch_keeps_the_host_and_server_name_on_the_checked_address(
    network, tls_receiver, settings
):
    settings.FETCH_ALLOW_PRIVATE_HOSTS = True
    port, trust = tls_receiver
    network.answers["images.example"] = ["127.0.0.1", "10.9.9.9"]

    async def fetch():
        async with httpx.AsyncClient(verify=trust, timeout=5) as client:
            url = f"https://images.example:{port}/a.png"
            return await fetch_bytes(url, client, max_bytes=1_000_000, public_only=True)

    data = asyncio.run(fetch())

    assert data == factories.png_bytes()
    assert network.connections == [("127.0.0.1", port)]
    assert TLSReceiver.server_names == ["images.example"]
    assert Receiver.seen == [("GET", f"images.example:{port}", "/a.png")]
