"""The OpenAI-compatible API under `/v1/`: every answer is JSON, every error OpenAI's envelope."""

import functools
import json
import logging
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from playground.accounts.models import ApiKey
from playground.accounts.money import usd_str
from playground.accounts.selectors import account_balance_micros
from playground.accounts.services import api_key_authenticate
from playground.catalog.models import Mode
from playground.numbers import parse_int
from playground.ratelimit import client_ip, hit

from . import openapi, selectors
from .errors import (
    CALLER_ERRORS,
    AuthenticationFailed,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RequestTooLarge,
    error_response,
    generation_error,
)
from .models import Generation
from .responses import images_body, status_body
from .runner import Start, generation_run
from .schemas import (
    UNTAKEN,
    GenerationRequest,
    check_image_count,
    check_upload,
    parse_generation_request,
)
from .services import generation_submit
from .streaming import generation_events
from .tasks import run_generation

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_CHARS = 255
FILE_FIELDS = frozenset({"image", "image[]", "mask"})


def api_view(*methods: str, authenticated: bool = True):
    """An async API view: method check, authentication and rate limit, the errors a caller is
    told about in the envelope, a request id on every answer. Other exceptions are bugs, left
    to Django's exception handling (`playground.views.server_error`).

    The view's `admit` is its admission (`_admit`) with its methods: under uvicorn the handler
    admits the request before reading its body (`playground/asgi.py`) and the view awaits what
    that found, so a request is authenticated once either way."""

    def decorator(view):
        admit = functools.partial(_admit, methods=methods, authenticated=authenticated)

        @csrf_exempt
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args, **kwargs):
            try:
                admission = getattr(request, "admission", None) or sync_to_async(admit)(request)
                api_key = await admission
                if authenticated:
                    kwargs["api_key"] = api_key
                response = await view(request, *args, **kwargs)
            except CALLER_ERRORS as exc:
                if isinstance(exc, OperationalError):  # not the caller's doing
                    logger.exception("database unavailable", extra={"path": request.path})
                response = error_response(exc)
            response["x-request-id"] = f"req_{uuid.uuid4().hex}"
            return response

        wrapper.admit = admit
        return wrapper

    return decorator


def _admit(request: HttpRequest, *, methods: tuple[str, ...], authenticated: bool) -> ApiKey | None:
    """Rate limit by address, check the method, authenticate and rate limit by key: one trip to
    the sync thread for all of it, from the request's head only."""
    hit(f"api-ip:{client_ip(request)}", settings.API_RATE_LIMIT_PER_IP_PER_MINUTE)
    if request.method not in methods:
        raise MethodNotAllowed(request.method, allowed=methods)
    if not authenticated:
        return None
    scheme, _, raw_key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw_key.strip():
        raise AuthenticationFailed(
            "Missing API key: send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
        )
    api_key = api_key_authenticate(raw_key=raw_key.strip())
    hit(f"api-key:{api_key.pk}", settings.API_RATE_LIMIT_PER_MINUTE)
    return api_key


@api_view("POST")
async def images_generations(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    body = _json_body(request, takes="a JSON body (Content-Type: application/json)")
    return await _run(request, api_key, parse_generation_request(body, mode=Mode.GENERATE))


@api_view("POST")
async def images_edits(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    """Multipart like OpenAI's (`image` or `image[]` files, a `mask` file), or JSON with image
    and mask URLs."""
    if request.content_type == "multipart/form-data":
        _check_length(request)
        files = _parsed_form(request).FILES
        if unread := set(files) - FILE_FIELDS:
            name = min(unread)
            raise InvalidRequest(
                UNTAKEN.get(name, f"'{name}' files are not taken here: send image and mask."),
                param=name,
            )
        uploads = [*files.getlist("image"), *files.getlist("image[]")]
        check_image_count(len(uploads))
        for upload in uploads:
            check_upload(name=upload.name, size=upload.size)
        mask = files.get("mask")
        if mask:
            check_upload(name=mask.name, size=mask.size, param="mask")
        fields = {
            name: values if len(values) > 1 else values[0] for name, values in request.POST.lists()
        }
        generation_request = parse_generation_request(
            fields,
            mode=Mode.EDIT,
            images=tuple(upload.read() for upload in uploads),
            mask=mask.read() if mask else None,
            from_form=True,
        )
    else:
        body = _json_body(request, takes="multipart/form-data (files) or a JSON body (image URLs)")
        generation_request = parse_generation_request(body, mode=Mode.EDIT)
    return await _run(request, api_key, generation_request)


def _parsed_form(request: HttpRequest) -> HttpRequest:
    """`request` with its multipart body parsed; a body Django refuses is a 400 or 413 here,
    in the envelope, not Django's HTML error page."""
    try:
        request.POST  # noqa: B018 - parses the body, files included
    except RequestDataTooBig:
        raise PayloadTooLarge("The request is too large.") from None
    except TooManyFilesSent:
        raise InvalidRequest("Too many files in the request.", param="image") from None
    except TooManyFieldsSent:
        raise InvalidRequest("Too many fields in the request.") from None
    except MultiPartParserError as exc:
        raise InvalidRequest(f"The multipart body cannot be read: {exc}") from None
    return request


def _json_body(request: HttpRequest, *, takes: str):
    """The body as JSON, declared `application/json` and in UTF-8 (RFC 8259 defines no charset
    parameter: one that says utf-8 is let by); of another type, or none, a 400 that says what
    the endpoint `takes`."""
    if request.content_type != "application/json":
        declared = request.content_type or "a body with no Content-Type"
        raise InvalidRequest(f"{request.method} {request.path} takes {takes}, not {declared}.")
    charset = request.content_params.get("charset", "utf-8")
    if charset.lower() != "utf-8":
        raise InvalidRequest(f"A JSON body must be UTF-8 (RFC 8259), not {charset}.")
    _check_length(request)
    try:
        return json.loads((request.body or b"null").decode())
    except RequestDataTooBig:
        raise PayloadTooLarge("The request is too large.") from None
    except (ValueError, RecursionError):  # bad JSON or UTF-8, huge numbers, deep nesting
        raise InvalidRequest(
            "The request body is not valid JSON in UTF-8 (or nests too deep, or holds too long "
            "a number)."
        ) from None


def _idempotency_key(request: HttpRequest) -> str | None:
    key = request.headers.get("Idempotency-Key") or None
    if key is not None and len(key) > MAX_IDEMPOTENCY_KEY_CHARS:
        raise InvalidRequest(
            f"'Idempotency-Key' is longer than {MAX_IDEMPOTENCY_KEY_CHARS} characters.",
            param="Idempotency-Key",
        )
    return key


def _check_length(request: HttpRequest) -> None:
    """413 before reading a body larger than every upload allowed together. Under uvicorn the
    handler has refused it already, as it came in (`playground/asgi.py`); this is for WSGI,
    whose server may pass on a Content-Length that is not a number."""
    try:
        declared = parse_int(request.headers.get("Content-Length") or "0")
    except ValueError:
        raise InvalidRequest("'Content-Length' is not a number of bytes.") from None
    if declared > settings.MAX_BODY_BYTES:
        raise RequestTooLarge()


async def _run(
    request: HttpRequest, api_key: ApiKey, generation_request: GenerationRequest
) -> HttpResponse:
    """Create (or find, for a repeated Idempotency-Key) the generation, then answer: at once
    with 202 under `Prefer: respond-async`, as events while it runs for `stream`, else when it
    is done. Whatever is refused before it starts is refused with a status and the envelope;
    a generation that ended without images, also with its id."""
    respond_async = "respond-async" in request.headers.get("Prefer", "")
    if respond_async and generation_request.stream:
        raise InvalidRequest(
            "'stream' and 'Prefer: respond-async' exclude each other: stream the run, or poll it.",
            param="stream",
        )
    generation, created = await generation_submit(
        user=api_key.user,
        api_key=api_key,
        request=generation_request,
        source=Generation.Source.API,
        base_url=request.build_absolute_uri("/"),
        idempotency_key=_idempotency_key(request),
        start=not respond_async,
    )
    if respond_async:
        if created:
            await run_generation.aenqueue(str(generation.pk))
        generation = await selectors.generation_aget(pk=generation.pk, user_id=api_key.user_id)
        response = JsonResponse(await status_body(generation), status=202)
        response["Location"] = reverse("gateway:generation-detail", args=[generation.pk])
        return await _with_credit_headers(response, generation)
    if generation_request.stream:
        events = generation_events(
            generation, created=created, partial_images=generation_request.partial_images
        )
        response = StreamingHttpResponse(events, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        response["X-Generation-Id"] = str(generation.pk)
        return response
    if created:
        outcome = await generation_run(generation, start=Start.CREATED)
        generation, remaining = outcome.generation, outcome.balance_micros
    else:
        generation = await selectors.generation_await_finished(pk=generation.pk)
        remaining = None
    if generation.status != Generation.Status.SUCCEEDED:
        response = error_response(
            generation_error(
                code=generation.error_code,
                message=generation.error_message,
                param=generation.error_param,
            )
        )
        response["X-Generation-Id"] = str(generation.pk)
        return response
    response = JsonResponse(await images_body(generation))
    return await _with_credit_headers(response, generation, remaining)


async def _with_credit_headers(
    response: JsonResponse, generation: Generation, remaining: int | None = None
) -> JsonResponse:
    """The generation's id and cost, and the balance: `remaining`, or read now."""
    if remaining is None:
        remaining = await sync_to_async(account_balance_micros)(user_id=generation.user_id)
    response["X-Generation-Id"] = str(generation.pk)
    response["X-Credits-Charged"] = usd_str(generation.cost_micros)
    response["X-Credits-Remaining"] = usd_str(remaining)
    return response


@api_view("GET")
async def generation_detail(request: HttpRequest, generation_id: uuid.UUID, api_key: ApiKey):
    generation = await selectors.generation_aget(pk=generation_id, user_id=api_key.user_id)
    if generation is None:
        raise NotFound(f"No generation {generation_id} for this account.", param="id")
    return await _with_credit_headers(JsonResponse(await status_body(generation)), generation)


@api_view("GET")
async def models_list(request: HttpRequest, api_key: ApiKey) -> JsonResponse:
    data = await sync_to_async(selectors.model_objects)()
    return JsonResponse({"object": "list", "data": data})


@api_view("GET")
async def model_detail(request: HttpRequest, model_id: str, api_key: ApiKey) -> JsonResponse:
    if "\x00" not in model_id:  # no database stores a NUL, and no model id has one
        for model in await sync_to_async(selectors.model_objects)(slug=model_id):
            return JsonResponse(model)
    raise NotFound(
        f"The model '{model_id}' does not exist. GET /v1/models lists the model ids.",
        param="model",
        code="model_not_found",
    )


@api_view("GET", authenticated=False)
async def openapi_document(request: HttpRequest) -> JsonResponse:
    server_url = request.build_absolute_uri(settings.API_PREFIX.removesuffix("/"))
    return JsonResponse(openapi.document(server_url=server_url))


@api_view("GET", "POST", "PUT", "PATCH", "DELETE", authenticated=False)
async def not_found(request: HttpRequest) -> JsonResponse:
    raise NotFound(f"There is no {request.path}. The API is described at /v1/openapi.json.")
