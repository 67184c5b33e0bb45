"""Middleware that also runs natively in async mode, for the chain the API and static files take
on the event loop (`settings.API_MIDDLEWARE`). In the pages' chain (`settings.MIDDLEWARE`) they
run as plain sync middleware.

Django runs a middleware that is not natively async in two trips to the sync thread per request,
each waiting behind every other request's database work. These do no I/O of their own, so they
stay on the event loop.
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.middleware import security
from whitenoise.middleware import WhiteNoiseMiddleware


class _SyncOrAsync:
    """Runs `handle` in a sync chain, `ahandle` in an async one."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.ahandle(request)
        return super().__call__(request)


class SecurityMiddleware(_SyncOrAsync, security.SecurityMiddleware):
    """Django's HTTPS redirect and security headers."""

    async def ahandle(self, request):
        response = self.process_request(request)
        if response is None:
            response = await self.get_response(request)
        return self.process_response(request, response)


class StaticFilesMiddleware(_SyncOrAsync, WhiteNoiseMiddleware):
    """Static files from whitenoise, served from what it has in memory."""

    async def ahandle(self, request):
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)
