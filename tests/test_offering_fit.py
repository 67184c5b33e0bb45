"""Fitting a request to one offering (`gateway/fit.py`), on the catalog's own capabilities: the
size choices the adapters used to make themselves (nearest ratio, custom multiples, the input's
shape) and what a parameter outside an offering's range or choices becomes."""

import pytest

from playground.catalog.capabilities import Capabilities
from playground.catalog.services import catalog_read
from playground.gateway.fit import Asked, Unfit, offering_fit


def capabilities(provider_model_id: str) -> Capabilities:
    for model in catalog_read()["models"]:
        for offering in model["offerings"]:
            if offering["provider_model_id"] == provider_model_id:
                return Capabilities.from_json(offering.get("capabilities", {}))
    raise LookupError(provider_model_id)


def test_exact_pixels_of_no_listed_shape_go_to_the_nearest_ratio():
    fit = offering_fit(
        capabilities("qwen/qwen-image-edit-plus"),
        Asked(width=1010, height=610, exact=True, images=1),
    )

    assert (fit.size_name, fit.width, fit.height) == ("16:9", 1664, 928)
    assert fit.mapped == [{"param": "size", "asked": "1010x610", "served": "16:9 (1664x928)"}]


def test_exact_pixels_in_a_custom_range_are_made_in_multiples_and_resized():
    fit = offering_fit(
        capabilities("qwen/qwen-image-2512"), Asked(width=1010, height=610, exact=True)
    )

    assert (fit.size_name, fit.width, fit.height) == (None, 1024, 624)
    assert fit.resize == (1010, 610)
    assert fit.mapped[0]["served"] == "made at 1024x624, resized to 1010x610"


def test_exact_pixels_a_multiple_of_the_custom_step_are_served_as_asked():
    fit = offering_fit(
        capabilities("qwen/qwen-image-2512"), Asked(width=1008, height=608, exact=True)
    )

    assert (fit.size_name, fit.width, fit.height, fit.mapped) == (None, 1008, 608, [])


@pytest.mark.parametrize(
    ("width", "height", "exact", "size_name", "is_as_asked"),
    [
        (1024, 1024, True, "1024*1024", True),
        (887, 1182, False, "768*1024", True),  # 3:4 at 1K: same shape, about the same scale
        (1365, 768, False, "1536*1024", False),  # 16:9: the nearest shape it has
        (768, 1365, False, "1024*1536", False),
        (2048, 1024, True, "1536*1024", False),
    ],
)
def test_a_provider_of_five_sizes_gets_the_nearest_shape(
    width, height, exact, size_name, is_as_asked
):
    fit = offering_fit(
        capabilities("qwen-image-2512"), Asked(width=width, height=height, exact=exact)
    )

    assert (fit.size_name, fit.is_as_asked) == (size_name, is_as_asked)


def test_an_editor_that_takes_no_size_keeps_the_inputs_shape():
    takes = capabilities("qwen/qwen-image-edit")

    kept = offering_fit(takes, Asked(width=1182, height=887, follows_input=True, images=1))
    sized = offering_fit(takes, Asked(width=1664, height=928, images=1))

    assert (kept.size_name, kept.mapped) == ("", [])
    assert sized.size_name == ""
    assert sized.mapped == [
        {"param": "size", "asked": "1664x928", "served": "the input image's shape"}
    ]


def test_more_images_than_the_offering_takes_is_unfit():
    with pytest.raises(Unfit) as caught:
        offering_fit(capabilities("qwen/qwen-image-edit"), Asked(width=64, height=64, images=2))

    assert caught.value.param == "image"


def test_a_choice_the_offering_lacks_is_unfit():
    with pytest.raises(Unfit) as caught:
        offering_fit(
            capabilities("fal-ai/qwen-image-edit"),
            Asked(width=64, height=64, images=1, params={"acceleration": "high"}),
        )

    assert caught.value.param == "acceleration"


def test_a_value_outside_the_range_is_clamped_and_one_not_taken_is_dropped():
    fit = offering_fit(
        capabilities("fal-ai/qwen-image-2512"),
        Asked(width=1024, height=1024, params={"num_inference_steps": 80, "go_fast": True}),
    )

    assert fit.params == {"num_inference_steps": 50}
    assert fit.mapped == [
        {"param": "num_inference_steps", "asked": "80", "served": "50"},
        {"param": "go_fast", "asked": "True", "served": "not taken here: not sent"},
    ]
