"""The OpenAPI 3.1 document of `/v1/`, served at `/v1/openapi.json`."""

from django.conf import settings
from django.template.defaultfilters import filesizeformat

from .images import MAX_INPUT_PIXELS
from .normalize import K_TIER, MP_TIER, PIXELS, RATIO
from .schemas import (
    CHOICES,
    MAX_MODEL_CHARS,
    MAX_N,
    MAX_PARTIAL_IMAGES,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SHAPE_CHARS,
    MAX_URL_CHARS,
    OUTPUT_FORMATS,
    RESPONSE_FORMATS,
)

ERROR_STATUSES = {
    "400": "A parameter is missing or invalid (`param` names it); `provider_rejected`: every "
    "provider refused the input (the first refusal's message and `param`); `moderation_blocked`: "
    "the provider's safety filter withheld every image (nothing is charged).",
    "401": "The API key is missing, wrong, revoked or expired.",
    "402": "The balance, or the key's spend limit, does not cover the request.",
    "404": "Unknown model or generation.",
    "405": "Wrong HTTP method; `Allow` lists the ones the path takes.",
    "413": "An upload or the request is too large.",
    "422": "The Idempotency-Key was used before with other parameters; "
    "`generation_cancelled`: the generation was cancelled by its owner while the call waited "
    "(`X-Generation-Id` names it, `x-should-retry: false`; nothing is charged).",
    "429": "Rate limited, or this account already has as many edits with uploads being checked "
    "as it may at once; see `Retry-After`.",
    "502": "Every provider failed; all credits were released.",
    "503": "No provider can serve the model right now, or the service is briefly unavailable; "
    "see `Retry-After`.",
}

# What `normalize` reads; an empty value is as good as none.
SIZE_PATTERN = f"^(?:{PIXELS}|{RATIO}|\\s*[aA][uU][tT][oO]\\s*)?$"
RATIO_PATTERN = f"^(?:{RATIO})?$"
RESOLUTION_PATTERN = f"^(?:{K_TIER}|{MP_TIER})?$"
# An input image named by URL (`schemas._image_url`).
IMAGE_URL = {"type": "string", "pattern": "^(https?://|data:image/)"}

PER_MODEL_RANGE = (
    "Each model takes the range of its providers (its page lists them); outside it, 400. "
    "A provider with a narrower range gets the value clamped, said in `mapped`."
)
MASK = (
    "Optional: a PNG with the first image's pixels and an alpha channel; its fully transparent "
    "pixels (alpha 0) mark where to edit. Providers that take no mask get the edit composited "
    "into the first image through it by the gateway: the output has the first image's pixels, "
    "and keeps them exactly wherever the mask is not fully transparent."
)
_COMMON_PARAMETERS = {
    "model": {
        "type": "string",
        "maxLength": MAX_MODEL_CHARS,
        "default": "qwen-image",
        "description": "A model id from GET /v1/models.",
    },
    "prompt": {
        "type": "string",
        "maxLength": MAX_PROMPT_CHARS,
        "pattern": "\\S",
        "description": "Required, and not only white space.",
    },
    "negative_prompt": {"type": "string", "maxLength": MAX_PROMPT_CHARS},
    "n": {"type": "integer", "minimum": 1, "maximum": MAX_N, "default": 1},
    "size": {
        "type": "string",
        "maxLength": MAX_SHAPE_CHARS,
        "pattern": SIZE_PATTERN,
        "description": "'WxH' pixels (always wins) or 'W:H' (same as aspect_ratio), or 'auto'.",
        "examples": ["1024x1024", "16:9"],
    },
    "aspect_ratio": {
        "type": "string",
        "maxLength": MAX_SHAPE_CHARS,
        "pattern": RATIO_PATTERN,
        "description": "Any 'W:H'; mapped to the nearest ratio the model supports.",
    },
    "resolution": {
        "type": "string",
        "maxLength": MAX_SHAPE_CHARS,
        "pattern": RESOLUTION_PATTERN,
        "description": "A tier ('0.5K', '1K', '2K', '4K') or megapixels ('0.25', '1').",
    },
    "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
    "response_format": {"type": "string", "enum": list(RESPONSE_FORMATS), "default": "url"},
    "output_format": {"type": "string", "enum": list(OUTPUT_FORMATS), "default": "png"},
    "output_compression": {
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        "description": "Quality kept for jpeg, webp and avif; 100 is the best.",
    },
    "cfg_scale": {"type": "number", "description": PER_MODEL_RANGE},
    "strength": {"type": "number", "minimum": 0, "maximum": 1},
    "num_inference_steps": {"type": "integer", "description": PER_MODEL_RANGE},
    "webhook_url": {
        "type": "string",
        "format": "uri",
        "pattern": "^https?://",
        "maxLength": MAX_URL_CHARS,
        "description": (
            "With `Prefer: respond-async`, POSTed the generation's status when it ends, signed"
            " as Standard Webhooks says, and retried on failure. Must resolve to public"
            " addresses only, else 400."
        ),
    },
    "stream": {
        "type": "boolean",
        "default": False,
        "description": "Answer with server-sent events, as OpenAI streams images.",
    },
    "partial_images": {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_PARTIAL_IMAGES,
        "default": 0,
        "description": "With `stream`: previews to send, where the provider gives them.",
    },
    **{
        name: {
            "type": "string",
            "enum": list(choices),
            "description": "Passed to providers that take it; elsewhere left out (see `mapped`)."
            + (" `transparent` where none takes it: 400." if name == "background" else ""),
        }
        for name, choices in CHOICES.items()
    },
    "user": {"type": "string", "description": "Accepted; never sent to a provider."},
    "safety_identifier": {"type": "string", "description": "Accepted; never sent to a provider."},
}


MAPPED = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["param", "asked", "served"],
        "properties": {
            "param": {"type": "string", "examples": ["size"]},
            "asked": {"type": "string", "examples": ["1024x1024"]},
            "served": {
                "type": "string",
                "examples": ["1:1 made at 1328x1328, resized to 1024x1024"],
            },
        },
    },
    "description": "What the provider that served the request did not take as asked: a size "
    "mapped to one it makes, a value clamped into its range, a parameter it does not take (not "
    "sent). Present only when something was mapped.",
}
SIZE_MADE = {
    "type": "string",
    "description": "The pixels of the images handed back, 'WxH'. When exact pixels were asked "
    "for and the provider made the same shape larger, the gateway shrank its images to them; "
    "otherwise this is what the provider made.",
    "examples": ["1664x928"],
}


# One server-sent event of a streamed answer, as tools read `text/event-stream` (each event a
# record of its fields): named by its type, its data a JSON object.
_STREAM_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "pattern": "^image_(generation|edit)\\.|^error$"},
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _responses(success: dict) -> dict:
    errors = {
        status: {"description": text, "content": _json(_ref("Error"))}
        for status, text in ERROR_STATUSES.items()
    }
    return success | errors


_HEADERS = [
    {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "maxLength": 255},
        "description": "A retry with the same key returns the first answer and charges once.",
    },
    {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "enum": ["respond-async"]},
        "description": "Answer 202 at once; follow GET /v1/generations/{id}.",
    },
]

_IMAGES_SUCCESS = {
    "200": {
        "description": "The images; with `stream`, server-sent events `image_generation.*` "
        "(edits: `image_edit.*`): `partial_image`, then one `completed` per image, or `error`.",
        "content": _json(_ref("ImagesResponse")) | {"text/event-stream": {"schema": _STREAM_EVENT}},
    },
    "202": {"description": "Accepted (respond-async).", "content": _json(_ref("Generation"))},
}


def _uploads() -> str:
    """What an edit's uploads may be, from the settings of this deployment."""
    return (
        f"PNG, JPEG or WebP; repeat `image` or use `image[]`. At most "
        f"{settings.MAX_INPUT_IMAGES} images, each at most "
        f"{filesizeformat(settings.MAX_UPLOAD_BYTES)} and {MAX_INPUT_PIXELS:,} pixels, all "
        f"images and the mask together at most {settings.MAX_EDIT_PIXELS:,} pixels; checked "
        "from the files' headers before any is decoded (400 naming `image` or `mask`)."
    )


def document(*, server_url: str) -> dict:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Qwen Image Playground API",
            "version": "1.0.0",
            "description": "OpenAI-compatible image generation and editing. Authenticate with "
            "`Authorization: Bearer <key>`.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/images/generations": {
                "post": {
                    "operationId": "createImage",
                    "parameters": _HEADERS,
                    "requestBody": {"required": True, "content": _json(_ref("GenerationRequest"))},
                    "responses": _responses(_IMAGES_SUCCESS),
                }
            },
            "/images/edits": {
                "post": {
                    "operationId": "createImageEdit",
                    "parameters": _HEADERS,
                    "requestBody": {
                        "required": True,
                        "content": {
                            "multipart/form-data": {"schema": _ref("EditForm")},
                            "application/json": {"schema": _ref("EditJson")},
                        },
                    },
                    "responses": _responses(_IMAGES_SUCCESS),
                }
            },
            "/generations/{id}": {
                "get": {
                    "operationId": "getGeneration",
                    "parameters": [
                        {
                            "name": "id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "format": "uuid"},
                        }
                    ],
                    "responses": _responses(
                        {
                            "200": {
                                "description": "The generation.",
                                "content": _json(_ref("Generation")),
                            }
                        }
                    ),
                }
            },
            "/models": {
                "get": {
                    "operationId": "listModels",
                    "responses": _responses(
                        {
                            "200": {
                                "description": "Every model.",
                                "content": _json(_ref("ModelList")),
                            }
                        }
                    ),
                }
            },
            "/models/{model}": {
                "get": {
                    "operationId": "retrieveModel",
                    "parameters": [
                        {
                            "name": "model",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": _responses(
                        {"200": {"description": "The model.", "content": _json(_ref("Model"))}}
                    ),
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "GenerationRequest": {
                    "type": "object",
                    "required": ["prompt"],
                    "properties": _COMMON_PARAMETERS,
                    "additionalProperties": True,
                    "description": "Parameters not listed pass straight through to the provider.",
                },
                "EditForm": {
                    "type": "object",
                    "description": "Numbers are sent as text, in the digits 0-9 only; booleans "
                    "as `true` or `false`.",
                    "required": ["prompt", "image"],
                    "properties": _COMMON_PARAMETERS
                    | {
                        "image": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "minItems": 1,
                            "maxItems": settings.MAX_INPUT_IMAGES,
                            "description": _uploads(),
                        },
                        "mask": {"type": "string", "format": "binary", "description": MASK},
                    },
                    "additionalProperties": True,
                },
                "EditJson": {
                    "type": "object",
                    "required": ["prompt", "image"],
                    "properties": _COMMON_PARAMETERS
                    | {
                        "image": {
                            "oneOf": [
                                IMAGE_URL,
                                {
                                    "type": "array",
                                    "items": IMAGE_URL,
                                    "minItems": 1,
                                    "maxItems": settings.MAX_INPUT_IMAGES,
                                },
                            ],
                            "description": "http(s) URLs or data:image/... URIs.",
                        },
                        "mask": IMAGE_URL
                        | {"description": f"An http(s) URL or a data:image/png URI. {MASK}"},
                    },
                    "additionalProperties": True,
                },
                "Image": {
                    "type": "object",
                    "properties": {
                        "url": {"type": "string"},
                        "b64_json": {"type": "string"},
                        "revised_prompt": {"type": ["string", "null"]},
                    },
                },
                "ImagesResponse": {
                    "type": "object",
                    "required": ["created", "data"],
                    "properties": {
                        "created": {"type": "integer"},
                        "data": {"type": "array", "items": _ref("Image")},
                        "output_format": {"type": "string"},
                        "size": SIZE_MADE,
                        "background": {"enum": ["transparent", "opaque"]},
                        "quality": {
                            "type": "string",
                            "description": "Present when the provider took `quality`.",
                        },
                        "mapped": MAPPED,
                    },
                },
                "Generation": {
                    "type": "object",
                    "required": ["id", "object", "status", "model", "created"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"const": "image.generation"},
                        "status": {
                            "enum": [
                                "queued",
                                "running",
                                "cancelling",
                                "succeeded",
                                "failed",
                                "cancelled",
                            ]
                        },
                        "model": {"type": "string"},
                        "created": {"type": "integer"},
                        "cost": {"type": "string", "description": "Dollars charged."},
                        "data": {"type": "array", "items": _ref("Image")},
                        "output_format": {"type": "string"},
                        "size": SIZE_MADE,
                        "background": {"enum": ["transparent", "opaque"]},
                        "quality": {"type": "string"},
                        "mapped": MAPPED,
                        "error": {"type": "object"},
                    },
                },
                "Model": {
                    "type": "object",
                    "required": ["id", "object", "created", "owned_by"],
                    "properties": {
                        "id": {"type": "string"},
                        "object": {"const": "model"},
                        "created": {"type": "integer"},
                        "owned_by": {"type": "string"},
                        "modes": {"type": "array", "items": {"enum": ["generate", "edit"]}},
                        "price_from_usd": {"type": ["string", "null"]},
                    },
                },
                "ModelList": {
                    "type": "object",
                    "required": ["object", "data"],
                    "properties": {
                        "object": {"const": "list"},
                        "data": {"type": "array", "items": _ref("Model")},
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["message", "type"],
                            "properties": {
                                "message": {"type": "string"},
                                "type": {"type": "string"},
                                "param": {"type": ["string", "null"]},
                                "code": {"type": ["string", "null"]},
                            },
                        }
                    },
                },
            },
        },
    }
