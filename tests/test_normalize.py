"""Unit tests of the size rules: size, aspect_ratio and resolution to one width x height."""

import pytest

from playground.catalog.services import catalog_read
from playground.gateway.errors import InvalidRequest
from playground.gateway.normalize import resolve_size, tier_megapixels

QWEN_SIZES = catalog_read()["sizes"]
WIDE = {
    **QWEN_SIZES,
    "default_ratio": "1:1",
    "tiers": {
        "1K": {"1:1": "1024x1024", "4:1": "2048x512", "8:1": "2896x362", "1:4": "512x2048"},
        "2K": {"1:1": "2048x2048", "4:1": "4096x1024"},
        "0.25": {"1:1": "512x512"},
    },
}


@pytest.mark.parametrize(
    ("ratio", "pixels"),
    [
        ("1:1", (1024, 1024)),
        ("4:3", (1183, 887)),
        ("3:4", (887, 1182)),
        ("3:2", (1254, 836)),
        ("2:3", (836, 1254)),
        ("16:9", (1365, 768)),
        ("9:16", (768, 1365)),
    ],
)
def test_the_seven_1k_sizes_of_qwen_image_2512(ratio, pixels):
    assert resolve_size(QWEN_SIZES, aspect_ratio=ratio, resolution="1K") == pixels
    assert resolve_size(QWEN_SIZES, size=ratio) == pixels


def test_wxh_size_is_used_as_given_and_wins_over_ratio_and_resolution():
    assert resolve_size(QWEN_SIZES, size="1920x1080", aspect_ratio="1:1", resolution="4K") == (
        1920,
        1080,
    )


def test_no_size_gives_the_default():
    assert resolve_size(QWEN_SIZES) == (1024, 1024)
    assert resolve_size(QWEN_SIZES, size="auto") == (1024, 1024)


def test_seven_to_one_maps_to_eight_to_one():
    assert resolve_size(WIDE, aspect_ratio="7:1") == (2896, 362)


def test_ratios_map_to_the_nearest_on_a_log_scale():
    assert resolve_size(WIDE, aspect_ratio="5:1") == (2048, 512)  # log 5/4 < log 8/5
    assert resolve_size(WIDE, aspect_ratio="1:1000") == (512, 2048)
    assert resolve_size(WIDE, aspect_ratio="1000:1") == (2896, 362)
    assert resolve_size(QWEN_SIZES, aspect_ratio="21:9") == (1365, 768)


def test_a_tie_goes_to_the_entry_listed_first():
    tied = {**QWEN_SIZES, "tiers": {"1K": {"2:1": "1448x724", "1:2": "724x1448"}}}
    assert resolve_size(tied, aspect_ratio="1:1") == (1448, 724)


def test_resolution_maps_to_the_nearest_tier_and_keeps_the_shape():
    assert resolve_size(WIDE, aspect_ratio="4:1", resolution="4K") == (4096, 1024)
    assert resolve_size(WIDE, resolution="0.5K") == (512, 512)  # 0.25 MP == 0.5K
    assert resolve_size(QWEN_SIZES, aspect_ratio="16:9", resolution="4K") == (1365, 768)


def test_a_ratio_missing_from_the_chosen_tier_maps_within_it():
    assert resolve_size(WIDE, aspect_ratio="8:1", resolution="2K") == (4096, 1024)


@pytest.mark.parametrize(
    ("tier", "megapixels"),
    [("0.5K", 0.25), ("1K", 1), ("2k", 4), ("4K", 16), ("0.25", 0.25), ("1", 1)],
)
def test_tier_megapixels(tier, megapixels):
    assert tier_megapixels(tier) == megapixels


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"size": "huge"}, "size"),
        ({"size": "0x100"}, "size"),
        ({"size": "20000x100"}, "size"),
        ({"size": "8000x8000"}, "size"),
        ({"size": "0:1"}, "size"),
        ({"aspect_ratio": "wide"}, "aspect_ratio"),
        ({"aspect_ratio": "1:0"}, "aspect_ratio"),
        ({"resolution": "8Q"}, "resolution"),
        ({"resolution": "0K"}, "resolution"),
    ],
)
def test_bad_values_name_their_parameter(kwargs, param):
    with pytest.raises(InvalidRequest) as caught:
        resolve_size(QWEN_SIZES, **kwargs)
    assert caught.value.param == param


def test_extreme_but_valid_pixel_sizes():
    assert resolve_size(QWEN_SIZES, size="14142x64") == (14142, 64)
    assert resolve_size(QWEN_SIZES, size="64x64") == (64, 64)
