"""The site under ASGI (uvicorn): each request takes one of the two middleware chains that
`settings.py` lists, by its path, and its body is read whole, however it was sent."""

import gc
import os

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.base import BaseHandler

from playground.gateway.errors import RequestTooLarge, error_response

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")


class SiteRequest(ASGIRequest):
    """Django's ASGI request, with the length of a body sent in chunks (no Content-Length):
    the handler has read the body whole, and Django's multipart parser reads as many bytes as
    CONTENT_LENGTH says, none without it."""

    def __init__(self, scope, body_file):
        super().__init__(scope, body_file)
        if "CONTENT_LENGTH" not in self.META:
            self.META["CONTENT_LENGTH"] = str(body_file.seek(0, os.SEEK_END))
            body_file.seek(0)


class LimitedBody:
    """The ASGI `receive` of an API request, counting its body as it comes in. Past
    `settings.API_MAX_BODY_BYTES`, or at once when Content-Length declares more, it says the
    client is gone: Django's `read_body` then drops what it read and stops reading, and
    `exceeded` tells the handler to answer 413. What the client still sends, the server reads
    and drops."""

    def __init__(self, receive, *, declared_bytes: int):
        self.receive = receive
        self.limit_bytes = settings.API_MAX_BODY_BYTES
        self.received_bytes = 0
        self.exceeded = declared_bytes > self.limit_bytes

    async def __call__(self):
        if self.exceeded:
            return {"type": "http.disconnect"}
        message = await self.receive()
        self.received_bytes += len(message.get("body", b""))
        self.exceeded = self.received_bytes > self.limit_bytes
        return {"type": "http.disconnect"} if self.exceeded else message


class SiteHandler(ASGIHandler):
    """Django's ASGI handler with a chain for the API and one for pages, and no thread per
    request.

    - The API (`settings.API_PREFIX`) and static files take `settings.API_MIDDLEWARE`, then
      Django's usual view handling (`process_view`, exception handling), on the event loop: the
      API's views are async, and so is each of those middleware.
    - Pages take `settings.MIDDLEWARE` and their view in one trip to the sync thread, as under
      WSGI: their views are sync, and Django would run each middleware that is not natively async
      in two trips of its own (about fifteen a page, each waiting behind other requests'
      database work).
    - The API's request bodies are limited as they come in (`LimitedBody`); a body past the
      limit is answered 413 in the API's error envelope.

    Django runs each request in its own `ThreadSensitiveContext`, so every request would get a
    thread for its sync sections and, database connections being per thread, a connection of its
    own: 1,000 generations in flight would hold 1,000 of each. Here the sync sections (short ORM
    calls and transactions) share one thread and one connection per process.
    """

    request_class = SiteRequest

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        if not scope["path"].startswith(settings.API_PREFIX):
            await self.handle(scope, receive, send)
            return
        body = LimitedBody(
            receive, declared_bytes=int(dict(scope["headers"]).get(b"content-length", 0))
        )
        await self.handle(scope, body, send)
        if body.exceeded:
            await self.send_response(error_response(RequestTooLarge()), send)

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


django.setup(set_prefix=False)
application = SiteHandler()
# What the process has loaded lives as long as it does: leave it out of the collector's full
# passes, which otherwise walk every module, model and template (F25).
gc.freeze()
