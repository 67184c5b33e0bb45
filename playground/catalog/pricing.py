"""The one function that prices a request; previews, holds and charges all use it."""

from .models import PriceUnit

PIXELS_PER_MEGAPIXEL = 1_000_000


def price_micros(*, price_micros: int, price_unit: str, width: int, height: int, n: int) -> int:
    """What n images of width x height cost at an offering's price, in micro-dollars."""
    if price_unit == PriceUnit.MEGAPIXEL:
        per_image = -(-price_micros * width * height // PIXELS_PER_MEGAPIXEL)  # rounded up
    elif price_unit == PriceUnit.MEGAPIXEL_UP:
        per_image = price_micros * -(-width * height // PIXELS_PER_MEGAPIXEL)
    else:
        per_image = price_micros
    return per_image * n
