"""The OpenAI-compatible API under `/v1/`: every answer is JSON, every error OpenAI's envelope."""

import base64
import functools
import json
import logging
import uuid

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from playground.accounts.errors import AccountError
from playground.accounts.money import usd_str
from playground.accounts.selectors import account_balance_micros
from playground.accounts.services import api_key_authenticate
from playground.catalog.selectors import model_list_active

from . import images
from .errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    MethodNotAllowed,
    as_gateway_error,
    error_response,
)
from .models import Generation
from .schemas import parse_generation_request
from .services import generation_create, generation_error, generation_execute

logger = logging.getLogger(__name__)


def api_view(*methods: str):
    """An async API view: method check, authentication, errors in the envelope, a request id."""

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        async def wrapper(request: HttpRequest, *args, **kwargs):
            try:
                if request.method not in methods:
                    raise MethodNotAllowed(
                        f"{request.method} is not allowed here; use {', '.join(methods)}."
                    )
                api_key = await _authenticate(request)
                response = await view(request, api_key, *args, **kwargs)
            except GatewayError as error:
                response = error_response(error)
            except AccountError as exc:
                response = error_response(as_gateway_error(exc))
            response["x-request-id"] = f"req_{uuid.uuid4().hex}"
            return response

        return wrapper

    return decorator


async def _authenticate(request: HttpRequest):
    scheme, _, raw_key = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not raw_key.strip():
        raise AuthenticationFailed(
            "Missing API key: send it as 'Authorization: Bearer <key>'.", code="missing_api_key"
        )
    return await sync_to_async(api_key_authenticate)(raw_key=raw_key.strip())


@api_view("POST")
async def images_generations(request: HttpRequest, api_key) -> JsonResponse:
    try:
        body = json.loads(request.body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise InvalidRequest("The request body is not valid JSON.") from None
    generation_request = parse_generation_request(body)
    generation = await sync_to_async(generation_create)(
        user=api_key.user,
        api_key=api_key,
        request=generation_request,
        source=Generation.Source.API,
    )
    generation = await generation_execute(generation_id=generation.pk)
    if generation.status != Generation.Status.SUCCEEDED:
        raise generation_error(generation)
    return await _images_response(request, generation)


async def _images_response(request: HttpRequest, generation: Generation) -> JsonResponse:
    data = []
    async for image in generation.images.order_by("index"):
        if generation.params["response_format"] == "b64_json":
            raw = await sync_to_async(images.read, thread_sensitive=False)(image.file.name)
            data.append({"b64_json": base64.b64encode(raw).decode(), "revised_prompt": None})
        else:
            url = request.build_absolute_uri(image.file.url)
            data.append({"url": url, "revised_prompt": None})
    body = {
        "created": int(generation.created_at.timestamp()),
        "data": data,
        "output_format": generation.params["output_format"],
        "size": f"{generation.width}x{generation.height}",
    }
    response = JsonResponse(body)
    remaining = await sync_to_async(account_balance_micros)(user_id=generation.user_id)
    response["X-Generation-Id"] = str(generation.pk)
    response["X-Credits-Charged"] = usd_str(generation.cost_micros)
    response["X-Credits-Remaining"] = usd_str(remaining)
    return response


@api_view("GET")
async def models_list(request: HttpRequest, api_key) -> JsonResponse:
    data = [_model_object(model) async for model in model_list_active()]
    return JsonResponse({"object": "list", "data": data})


def _model_object(model) -> dict:
    return {
        "id": model.slug,
        "object": "model",
        "created": int(model.created_at.timestamp()),
        "owned_by": model.vendor.lower(),
        "modes": model.modes,
    }
