"""The demo provider: draws a real image locally with Pillow, with no key and no network.

The picture is a seed-coloured gradient with a few shapes and the prompt's words on it, at the
requested size. The same prompt, seed and size always give the same bytes. For edits, the first
input image is the background. A job that asks for previews (a stream's partial images) gets
the picture as it is drawn: the background, then the shapes, before the finished picture.
"""

import asyncio
import hashlib
import io
import random
import textwrap
from typing import ClassVar

import httpx
from PIL import Image, ImageDraw, ImageFont, ImageOps

from .base import (
    Behaviour,
    Param,
    ProgressCallback,
    ProgressStatus,
    Provider,
    ProviderImage,
    ProviderJob,
    ProviderProgress,
    ProviderResult,
)

MAX_DEMO_PIXELS = 4096 * 4096


class DemoProvider(Provider):
    slug = "demo"
    label = "Demo (local)"
    is_demo = True

    parameters: ClassVar[dict[str, Param]] = {
        "prompt": Param(Behaviour.PASSTHROUGH, note="drawn on the image"),
        "size": Param(Behaviour.CONVERTED, "width, height"),
        "seed": Param(Behaviour.PASSTHROUGH, note="chooses the colours"),
        "image": Param(Behaviour.PASSTHROUGH, note="the first image becomes the background"),
        "mask": Param(
            Behaviour.EMULATED,
            note="the gateway composites the edit into the input through the mask",
        ),
        "output_format": Param(Behaviour.EMULATED, note="drawn as PNG, converted by the gateway"),
        "partial_images": Param(Behaviour.PASSTHROUGH, note="up to two stages of the drawing"),
    }

    async def generate(
        self,
        job: ProviderJob,
        client: httpx.AsyncClient,
        *,
        on_progress: ProgressCallback | None = None,
        **callbacks,
    ) -> ProviderResult:
        previews = job.previews if on_progress is not None else 0
        *stages, data = await asyncio.to_thread(draw, job, previews=previews)
        for preview in stages:
            await on_progress(ProviderProgress(status=ProgressStatus.RUNNING, preview=preview))
        return ProviderResult(images=[ProviderImage(data=data, seed=job.seed)])


def draw(job: ProviderJob, *, previews: int = 0) -> list[bytes]:
    """The demo picture for `job` as PNG bytes, last, after up to `previews` (at most two)
    pictures of it half drawn."""
    half_drawn = []
    width, height = job.width, job.height
    scale = min(1.0, (MAX_DEMO_PIXELS / (width * height)) ** 0.5)
    digest = hashlib.sha256(f"{job.seed}\x00{job.prompt}".encode()).digest()
    rng = random.Random(digest)  # noqa: S311 - colours, not secrets
    start, end, accent = (_colour(rng) for _ in range(3))

    if job.images:
        with Image.open(io.BytesIO(job.images[0])) as source:
            background = ImageOps.fit(source.convert("RGB"), (width, height))
        image = Image.blend(background, Image.new("RGB", (width, height), start), 0.25)
    else:
        gradient = Image.linear_gradient("L").rotate(rng.choice((0, 45, 90, 135)), expand=True)
        image = ImageOps.colorize(ImageOps.fit(gradient, (width, height)), start, end)
    if previews:
        half_drawn.append(_png(image))

    canvas = ImageDraw.Draw(image, "RGBA")
    short_side = min(width, height)
    for _ in range(6):
        radius = rng.uniform(0.05, 0.25) * short_side
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        canvas.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(*accent, 90))
    if previews:
        half_drawn.append(_png(image))

    font_size = max(10, int(short_side * scale / 14))
    font = ImageFont.load_default(size=font_size)
    columns = max(8, int(width / (font_size * 0.55)))
    lines = textwrap.wrap(job.prompt, width=columns)[:8] or ["(empty prompt)"]
    text = "\n".join(lines)
    box = canvas.multiline_textbbox((0, 0), text, font=font, spacing=font_size // 3)
    x = (width - (box[2] - box[0])) / 2
    y = (height - (box[3] - box[1])) / 2
    pad = font_size // 2
    canvas.rectangle(
        (x - pad, y - pad, x + box[2] - box[0] + pad, y + box[3] - box[1] + pad),
        fill=(0, 0, 0, 110),
    )
    canvas.multiline_text((x, y), text, font=font, fill="white", spacing=font_size // 3)
    label_font = ImageFont.load_default(size=max(10, font_size // 2))
    canvas.text(
        (pad, height - pad), f"demo · seed {job.seed}", font=label_font, fill="white", anchor="ls"
    )
    return [*half_drawn[-previews:], _png(image)]


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))
