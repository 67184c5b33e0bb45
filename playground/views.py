"""Site-wide views: the health check and the status page, robots.txt, the media files of the
default storage, and the answer to a request that failed unexpectedly."""

import logging
import mimetypes
import secrets

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.http import FileResponse, Http404, HttpResponseServerError, JsonResponse
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from playground.context_processors import site_identity
from playground.gateway.errors import GatewayError, error_response
from playground.gateway.selectors import service_status

logger = logging.getLogger(__name__)


@require_GET
def home(request):
    return redirect("studio:playground")


@never_cache
@require_GET
def healthz(request):
    """Whether the database answers and the storage accepts, returns and deletes a file."""
    checks = {"database": _database_ok(), "storage": _storage_ok()}
    healthy = all(checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks}, status=200 if healthy else 503
    )


@never_cache
@require_GET
def status(request):
    """The health check as a page a person reads, with each provider's circuit and each model's
    availability (which needs the database: left out when it does not answer)."""
    database = _database_ok()
    context = {
        "database_ok": database,
        "storage_ok": _storage_ok(),
        "service": service_status() if database else None,
    }
    return render(request, "site/status.html", context)


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except DatabaseError:
        return False


def _storage_ok() -> bool:
    probe = f"healthz/{secrets.token_hex(8)}.txt"
    try:
        name = default_storage.save(probe, ContentFile(b"ok"))
        with default_storage.open(name) as fh:
            ok = fh.read() == b"ok"
        default_storage.delete(name)
        return ok
    except Exception:  # any backend's failure means "unhealthy"; the traceback goes to the log
        logger.exception("storage health check failed")
        return False


@require_GET
def robots_txt(request):
    sitemap_url = request.build_absolute_uri(reverse("catalog:sitemap"))
    context = {"sitemap_url": sitemap_url, "api_prefix": settings.API_PREFIX}
    return render(request, "site/robots.txt", context, content_type="text/plain; charset=utf-8")


@require_GET
def media_file(request, name: str):
    """Serve a stored file. Names of result images are unguessable, so no session is needed."""
    if ".." in name.split("/") or name.endswith("/") or not default_storage.exists(name):
        raise Http404("No such file.")
    try:
        stored = default_storage.open(name, "rb")
    except (IsADirectoryError, FileNotFoundError):
        raise Http404("No such file.") from None
    content_type, _ = mimetypes.guess_type(name)
    response = FileResponse(stored, content_type=content_type)
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def server_error(request):
    """Django's answer to an unexpected exception (logged with its traceback by Django): in
    OpenAI's envelope under the API, the site's error page elsewhere. The page is rendered with
    the settings' names only, no request: its context processors may be what failed."""
    if request.path_info.startswith(settings.API_PREFIX):
        return error_response(GatewayError("The gateway failed unexpectedly."))
    return HttpResponseServerError(loader.render_to_string("500.html", site_identity()))
