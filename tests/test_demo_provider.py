import asyncio
import io

import httpx
from PIL import Image

from playground.providers.base import ProviderJob
from playground.providers.demo import DemoProvider
from tests import factories


def generate(**fields):
    job = ProviderJob(
        model_id="qwen-image",
        **{"prompt": "a fox", "width": 320, "height": 200, "seed": 1, **fields},
    )

    async def run():
        async with httpx.AsyncClient() as client:
            return await DemoProvider().generate(job, client)

    return asyncio.run(run()).images[0].data


def test_draws_a_png_of_the_requested_size():
    image = Image.open(io.BytesIO(generate(width=333, height=777)))
    assert (image.format, image.size) == ("PNG", (333, 777))


def test_same_seed_and_prompt_give_the_same_bytes_and_others_differ():
    assert generate(seed=5) == generate(seed=5)
    assert generate(seed=5) != generate(seed=6)
    assert generate(prompt="a fox") != generate(prompt="a cat")


def test_edits_start_from_the_input_image():
    red = factories.png_bytes(colour=(255, 0, 0))
    edited = Image.open(io.BytesIO(generate(images=(red,)))).convert("RGB")
    r, g, b = edited.getpixel((1, 1))
    assert r > g and r > b
