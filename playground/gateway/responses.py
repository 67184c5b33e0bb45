"""What the API says about a generation: OpenAI's images response, and the status object of
async mode (also the body of webhooks). Built without a request, from the base URL recorded
when the generation was created, so the worker can build the same answer."""

import base64
from urllib.parse import urljoin

from playground.accounts.money import usd_str

from . import images
from .models import Generation


async def images_body(generation: Generation) -> dict:
    """OpenAI's `{"created", "data": [...]}` for a generation that succeeded, read with its
    images (`selectors.generations_answerable`)."""
    as_b64 = generation.params["response_format"] == "b64_json"
    data = []
    for image in generation.image_list:
        if as_b64:
            raw = await images.off_loop(images.read, image.file.name)
            data.append({"b64_json": base64.b64encode(raw).decode(), "revised_prompt": None})
        else:
            url = urljoin(generation.params["base_url"], image.file.url)
            data.append({"url": url, "revised_prompt": None})
    body = {"created": int(generation.created_at.timestamp()), "data": data}
    body |= image_facts(generation, size=(generation.width, generation.height))
    if generation.mapped:
        body["mapped"] = generation.mapped
    return body


def image_facts(generation: Generation, *, size: tuple[int, int]) -> dict:
    """What OpenAI's answers say of the images besides the data: the pixels handed back, the
    format, the background and, when a provider took it, the quality. (`usage` counts
    OpenAI's tokens, which these providers do not have: it is left out.)"""
    extra = generation.params["extra"]
    facts = {
        "size": f"{size[0]}x{size[1]}",
        "output_format": generation.params["output_format"],
        # The runner hands back a transparent image only for "transparent", and always then.
        "background": "transparent" if extra.get("background") == "transparent" else "opaque",
    }
    not_sent = {entry["param"] for entry in generation.mapped or ()}
    if extra.get("quality", "auto") != "auto" and "quality" not in not_sent:
        facts["quality"] = extra["quality"]
    return facts


async def status_body(generation: Generation) -> dict:
    """The async-mode view of a generation: its state, and the images or the error once done."""
    body = {
        "id": str(generation.pk),
        "object": "image.generation",
        "status": generation.status,
        "model": generation.model.slug,
        "created": int(generation.created_at.timestamp()),
        "cost": usd_str(generation.cost_micros),
    }
    if generation.status == Generation.Status.SUCCEEDED:
        images = await images_body(generation)
        body |= {key: value for key, value in images.items() if key != "created"}
    elif generation.is_finished:
        body |= {
            "error": {
                "message": generation.error_message,
                "code": generation.error_code,
                "param": generation.error_param or None,
            }
        }
    return body
