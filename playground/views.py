"""Site-wide views: the front page, the health check and the status page, robots.txt, the media
files of the default storage, and the answer to a request that failed unexpectedly."""

import logging
import mimetypes
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, connection
from django.http import (
    FileResponse,
    Http404,
    HttpResponseBadRequest,
    HttpResponseServerError,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.template import loader
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from playground.catalog.examples import KEY_ENV, ModeExamples, api_base_url, model_examples
from playground.catalog.gallery import GalleryItem, gallery_placeholders
from playground.catalog.models import Mode
from playground.catalog.selectors import ModelEntry, model_entries
from playground.context_processors import site_identity
from playground.gateway.errors import GatewayError, error_response
from playground.gateway.models import GenerationImage
from playground.gateway.selectors import gallery_covers, gallery_list, service_status

from .forms import StartForm

logger = logging.getLogger(__name__)

HOME_GALLERY_SIZE = 6
START_COOKIE = "start_in"
START_COOKIE_MAX_AGE = 365 * 24 * 60 * 60
STORAGE_PROBE_SECONDS = 10


@require_GET
def home(request):
    """The front page: what the site does, its models, an API call, the way to the playground.

    A signed-in user who chose "Start in the playground next time" (`home_start`, which
    remembers it in a cookie) is sent to the playground instead, unless the address asks for
    this page itself with `?home`: the header's brand link does, so the front page, and the
    choice to undo, are always one click away.
    """
    starts_in_playground = request.COOKIES.get(START_COOKIE) == StartForm.PLAYGROUND
    if starts_in_playground and request.user.is_authenticated and "home" not in request.GET:
        return redirect("studio:playground")
    entries = model_entries()
    context = {
        "cards": _model_cards(entries),
        "gallery": gallery_list(limit=HOME_GALLERY_SIZE),
        "example": _api_example(request, entries),
        "base_url": api_base_url(request),
        "key_env": KEY_ENV,
        "start_form": StartForm(
            initial={"start": StartForm.HOME if starts_in_playground else StartForm.PLAYGROUND}
        ),
        "starts_in_playground": starts_in_playground,
    }
    return render(request, "home.html", context)


@login_required
@require_POST
def home_start(request):
    """Remember, for a year, where `/` takes this browser once signed in."""
    form = StartForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose where to start.")
    response = redirect(f"{reverse('home')}?home")
    if form.cleaned_data["start"] == StartForm.PLAYGROUND:
        messages.success(request, "From now on the site opens in the playground.")
        response.set_cookie(
            START_COOKIE,
            StartForm.PLAYGROUND,
            max_age=START_COOKIE_MAX_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    else:
        messages.success(request, "From now on the site opens on this page.")
        response.delete_cookie(START_COOKIE, samesite="Lax")
    return response


@dataclass(frozen=True, kw_only=True)
class ModelCard:
    """A model on the front page, pictured by its newest published image, else a placeholder."""

    entry: ModelEntry
    cover: GenerationImage | None
    placeholder: GalleryItem | None


def _model_cards(entries: list[ModelEntry]) -> list[ModelCard]:
    covers = gallery_covers()
    return [
        ModelCard(
            entry=entry,
            cover=covers.get(entry.model.pk),
            placeholder=next(iter(gallery_placeholders(entry.model)), None),
        )
        for entry in entries
    ]


def _api_example(request, entries: list[ModelEntry]) -> ModeExamples | None:
    """The first model's text-to-image call, against this deployment."""
    models = [entry.model for entry in entries if entry.model.has_mode(Mode.GENERATE)]
    if not models:
        return None
    examples = model_examples(models[0], base_url=api_base_url(request))
    return next(example for example in examples if example.mode == Mode.GENERATE)


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
    """The storage probe's last answer, at most `STORAGE_PROBE_SECONDS` old: both pages are
    public, and each probe is three calls to the storage (with S3, three requests to the bucket)."""
    return cache.get_or_set("storage-probe", _storage_probe, STORAGE_PROBE_SECONDS)


def _storage_probe() -> bool:
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
