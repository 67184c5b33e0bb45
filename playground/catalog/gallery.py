"""The placeholders of a model's gallery, shown until someone publishes an image of the model:
entries of the catalog data, each with a picture drawn once by the local demo provider
(`manage.py draw_gallery`) and kept as a static file of this app.

The pictures are labelled as placeholders on the page: they show the prompt, the seed and the
shape, not what the model makes of them. Published images are `gateway.GenerationImage` rows
(`gateway.selectors.gallery_list`).
"""

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from playground.providers.base import ProviderJob
from playground.providers.demo import draw

from .models import ImageModel, parse_pixels

STATIC_DIR = Path(__file__).parent / "static"
THUMBNAIL_WIDTH = 480


@dataclass(frozen=True, kw_only=True)
class GalleryItem:
    prompt: str
    seed: int
    width: int
    height: int
    static_path: str

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def gallery_items(*, slug: str, entries: list[dict]) -> list[GalleryItem]:
    """The gallery of model `slug` from its data entries (prompt, seed, size)."""
    items = []
    for index, entry in enumerate(entries, start=1):
        width, height = parse_pixels(entry["size"])
        items.append(
            GalleryItem(
                prompt=entry["prompt"],
                seed=entry["seed"],
                width=width,
                height=height,
                static_path=f"catalog/gallery/{slug}-{index}.webp",
            )
        )
    return items


def gallery_placeholders(model: ImageModel) -> list[GalleryItem]:
    return gallery_items(slug=model.slug, entries=model.docs.get("gallery", []))


def gallery_draw(item: GalleryItem) -> Path:
    """Draw `item` with the demo provider into this app's static folder; returns the file."""
    job = ProviderJob(
        model_id="gallery", prompt=item.prompt, width=item.width, height=item.height, seed=item.seed
    )
    with Image.open(io.BytesIO(draw(job)[-1])) as picture:
        height = round(item.height * THUMBNAIL_WIDTH / item.width)
        thumbnail = picture.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS)
    path = STATIC_DIR / item.static_path
    path.parent.mkdir(parents=True, exist_ok=True)
    thumbnail.save(path, format="WEBP", quality=80)
    return path
