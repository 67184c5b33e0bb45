import os

import django
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")


class GatewayASGIHandler(ASGIHandler):
    """Django's ASGI handler without a thread per request.

    Django runs each request in its own `ThreadSensitiveContext`, so every request gets a new
    thread for its sync sections and, database connections being per thread, a connection of its
    own, held until the request ends: 1,000 generations in flight would mean 1,000 threads and
    1,000 connections. Without it, the sync sections (short ORM calls and transactions) share one
    thread and one connection per process, and the event loop does the waiting.
    """

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)


django.setup(set_prefix=False)
application = GatewayASGIHandler()
