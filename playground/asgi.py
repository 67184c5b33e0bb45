"""The site under ASGI (uvicorn): each request takes one of the two middleware chains that
`settings.py` lists, by its path; an API request is admitted before its body is read, and a
body is read whole, however it was sent, up to `settings.MAX_BODY_BYTES`."""

import asyncio
import gc
import io
import os

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.base import BaseHandler
from django.http import HttpResponse
from django.template import loader
from django.urls import resolve

from playground.context_processors import site_identity
from playground.gateway.errors import RequestTooLarge, error_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")


class SiteRequest(ASGIRequest):
    """Django's ASGI request, with the length of a body sent in chunks (no Content-Length):
    the handler has read the body whole, and Django's multipart parser reads as many bytes as
    CONTENT_LENGTH says, none without it. An API request carries its `admission`, the task
    that admitted it before its body was read (see `playground.gateway.views.api_view`)."""

    def __init__(self, scope, body_file):
        super().__init__(scope, body_file)
        self.admission = scope.get("admission")
        if "CONTENT_LENGTH" not in self.META:
            self.META["CONTENT_LENGTH"] = str(body_file.seek(0, os.SEEK_END))
            body_file.seek(0)


class LimitedBody:
    """The ASGI `receive` of a request, counting its body as it comes in. Past
    `settings.MAX_BODY_BYTES`, or at once when Content-Length declares more, it says the
    client is gone: Django's `read_body` then drops what it read and stops reading, and
    `exceeded` tells the handler to answer 413 and close the connection."""

    def __init__(self, receive, *, declared_bytes: int):
        self.receive = receive
        self.limit_bytes = settings.MAX_BODY_BYTES
        self.received_bytes = 0
        self.exceeded = declared_bytes > self.limit_bytes

    async def __call__(self):
        if self.exceeded:
            return {"type": "http.disconnect"}
        message = await self.receive()
        self.received_bytes += len(message.get("body", b""))
        self.exceeded = self.received_bytes > self.limit_bytes
        return {"type": "http.disconnect"} if self.exceeded else message


class NoBody:
    """The ASGI `receive` of a request whose body is left unread: an empty body, then nothing
    (Django's handler stops waiting for a disconnect once it has answered)."""

    def __init__(self):
        self.is_given = False

    async def __call__(self):
        if self.is_given:
            await asyncio.Event().wait()
        self.is_given = True
        return {"type": "http.request", "body": b"", "more_body": False}


def closing(send):
    """`send` with `Connection: close` on the response: the server then closes the
    connection once it has answered, instead of reading and dropping the rest of a body it
    left unread for the next request on it."""

    async def send_closing(message):
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
        await send(message)

    return send_closing


class SiteHandler(ASGIHandler):
    """Django's ASGI handler with a chain for the API and one for pages, bodies limited as they
    come in, and no thread per request.

    - The API (`settings.API_PREFIX`) and static files take `settings.API_MIDDLEWARE`, then
      Django's usual view handling (`process_view`, exception handling), on the event loop: the
      API's views are async, and so is each of those middleware.
    - Pages take `settings.MIDDLEWARE` and their view in one trip to the sync thread, as under
      WSGI: their views are sync, and Django would run each middleware that is not natively async
      in two trips of its own (about fifteen a page, each waiting behind other requests'
      database work).
    - An API request is admitted (rate limit, method, key) before a byte of its body is read:
      refused, it is answered by its view with an empty body, as the view refuses it, and the
      connection is closed; admitted, its view takes the key found (`SiteRequest.admission`).
    - Bodies are limited as they come in (`LimitedBody`); past the limit the answer is 413: in
      the API's error envelope, or the site's page.

    Django runs each request in its own `ThreadSensitiveContext`, so every request would get a
    thread for its sync sections and, database connections being per thread, a connection of its
    own: 1,000 generations in flight would hold 1,000 of each. Here the sync sections (short ORM
    calls and transactions) share one thread and one connection per process.
    """

    request_class = SiteRequest

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        is_api = scope["path"].startswith(settings.API_PREFIX)
        if is_api:
            scope["admission"] = admission = asyncio.ensure_future(self.admit(scope))
            await asyncio.wait([admission])
            if admission.exception() is not None:
                await self.handle(scope, NoBody(), closing(send))
                return
        body = LimitedBody(
            receive, declared_bytes=int(dict(scope["headers"]).get(b"content-length", 0))
        )
        if not body.exceeded:
            await self.handle(scope, body, send)
        if body.exceeded:
            await self.send_response(too_large_response(is_api=is_api), closing(send))

    async def admit(self, scope):
        """What the API view's `admit` says of the request's head: its API key, or the error
        that refuses it."""
        request = self.request_class(scope, io.BytesIO())
        return await sync_to_async(resolve(request.path_info).func.admit)(request)

    def load_middleware(self, is_async=False):
        pages = BaseHandler()
        pages.load_middleware(is_async=False)
        self.page_response = sync_to_async(pages.get_response)
        # Django builds a handler's chain from settings.MIDDLEWARE; this one's is the API's.
        page_middleware, settings.MIDDLEWARE = settings.MIDDLEWARE, settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async=True)
        finally:
            settings.MIDDLEWARE = page_middleware

    async def get_response_async(self, request):
        if request.path_info.startswith((settings.API_PREFIX, settings.STATIC_URL)):
            return await super().get_response_async(request)
        return await self.page_response(request)


def too_large_response(*, is_api: bool) -> HttpResponse:
    """The 413 for a body over `settings.MAX_BODY_BYTES`: the API's envelope, or the site's
    page, rendered with the settings' names only, like the 500 page."""
    if is_api:
        return error_response(RequestTooLarge())
    context = {**site_identity(), "limit_bytes": settings.MAX_BODY_BYTES}
    return HttpResponse(loader.render_to_string("413.html", context), status=413)


django.setup(set_prefix=False)
application = SiteHandler()
# What the process has loaded lives as long as it does: leave it out of the collector's full
# passes, which otherwise walk every module, model and template (F25).
gc.freeze()
