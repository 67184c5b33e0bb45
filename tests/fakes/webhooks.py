"""A caller's webhook receiver: takes POSTs on `/hook` and answers 204, or what a test scripts
with `fail_next` (the shared fake machinery of server.py). `received` are the POSTs it got."""

import re

from .server import FakeServer, Recorded, Reply, Route, json_reply, retry_header


class WebhookReceiver(FakeServer):
    def routes(self) -> list[Route]:
        return [Route("POST", re.compile(r"/hook"), "hook", self._hook, public=True)]

    def error_reply(self, status: int, message: str, *, retry_after: str | None = None) -> Reply:
        return json_reply(status, {"error": message}, retry_header(retry_after))

    @property
    def hook_url(self) -> str:
        return f"{self.url}/hook"

    @property
    def received(self) -> list[Recorded]:
        return self.requests_to("hook")

    def _hook(self, request: Recorded) -> Reply:
        return Reply(204)
