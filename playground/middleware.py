"""Middleware that also runs natively in async mode.

Django runs each sync-only middleware of an async request in a thread: two hand-offs to the
one sync thread per middleware and request, each waiting behind every other request's database
work. These keep static files and the API's requests on the event loop; in a sync chain (the
pages', `playground/asgi.py`, or WSGI) they run as plain sync middleware.
"""

from asgiref.sync import async_to_sync, iscoroutinefunction, markcoroutinefunction
from django.middleware.security import SecurityMiddleware
from django.urls import resolve
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

API_PREFIX = "/v1/"


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """Static files from whitenoise, serving the files it has without leaving the event loop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = self.find_file(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


class ApiMiddleware(MiddlewareMixin):
    """Requests under `/v1/` go straight to their view, past the browser's middleware below
    this one: the API authenticates by key, is exempt from CSRF, keeps no session and answers
    JSON in its own error envelope (`gateway.views.api_view`). The views are async: on the
    event loop under ASGI, through `async_to_sync` under WSGI.

    The security middleware's HTTPS redirect and headers apply to them too, made here on the
    event loop: as middleware of its own, Django's would make two trips to the sync thread for
    each request."""

    def __init__(self, get_response):
        super().__init__(get_response)
        self.security = SecurityMiddleware(get_response)

    def process_request(self, request):
        if request.path_info.startswith(API_PREFIX):
            return async_to_sync(self._api)(request)
        return None

    async def __acall__(self, request):
        if request.path_info.startswith(API_PREFIX):
            return await self._api(request)
        return await self.get_response(request)

    async def _api(self, request):
        """The security middleware's redirect, or the view's answer; with its headers."""
        response = self.security.process_request(request)
        if response is None:
            request.resolver_match = match = resolve(request.path_info)
            response = await match.func(request, *match.args, **match.kwargs)
        return self.security.process_response(request, response)
