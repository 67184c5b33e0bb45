import gc
import os

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler

from playground.middleware import API_PREFIX

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler without a thread per request, and with each page in one trip to
    the sync thread.

    Django runs each request in its own `ThreadSensitiveContext`, so every request gets a new
    thread for its sync sections and, database connections being per thread, a connection of its
    own, held until the request ends: 1,000 generations in flight would mean 1,000 threads and
    1,000 connections. Without it, the sync sections (short ORM calls and transactions) share one
    thread and one connection per process, and the event loop does the waiting.

    The API's views are async, and static files are served from memory: both stay on the event
    loop. The pages' views are sync, and Django would run each middleware that is not natively
    async in two trips to the sync thread of their own (about fifteen for a page, each waiting
    behind other requests' database work). A page instead runs the whole middleware chain and
    its view in one trip, as under WSGI.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=is_async)
        pages = BaseHandler()
        pages.load_middleware(is_async=False)
        self.page_response = sync_to_async(pages.get_response)

    async def get_response_async(self, request):
        if request.path_info.startswith((API_PREFIX, settings.STATIC_URL)):
            return await super().get_response_async(request)
        return await self.page_response(request)


django.setup(set_prefix=False)
application = GatewayASGIHandler()
# What the process has loaded lives as long as it does: leave it out of the collector's full
# passes, which otherwise walk every module, model and template (44 ms here, with every request
# in flight waiting on it).
gc.freeze()
