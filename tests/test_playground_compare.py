"""Comparing models on one prompt."""

import pytest
from django.urls import reverse

from playground.accounts.templatetags.money import usd
from playground.gateway.models import Generation
from tests.factories import (
    HTMX,
    QWEN_IMAGE_1K,
    finished_generation,
)

pytestmark = pytest.mark.django_db


def compare_form(**values) -> dict:
    return {
        "prompt": "a paper boat",
        "models": ["qwen-image:generate", "qwen-image-2512:generate"],
        "aspect_ratio": "1:1",
        "resolution": "1K",
    } | values


def test_compare_runs_one_prompt_on_several_models(signed_in, user):
    response = signed_in.post(reverse("studio:compare"), compare_form(), headers=HTMX)

    generations = list(Generation.objects.filter(user=user).order_by("created_at"))
    assert [g.model.slug for g in generations] == ["qwen-image", "qwen-image-2512"]
    assert {g.prompt for g in generations} == {"a paper boat"}
    assert len({g.seed for g in generations}) == 1  # the same seed, for a fair comparison
    assert 'class="compare-grid cols-2"' in response.text
    assert all(f'id="gen-{g.pk}"' in response.text for g in generations)
    assert response.headers["HX-Push-Url"] == (
        f"/playground/compare/?g={generations[0].pk}&g={generations[1].pk}"
    )
    assert "balance-changed" in response.headers["HX-Trigger"]

    again = signed_in.get(response.headers["HX-Push-Url"]).text

    for generation in generations:
        generation.refresh_from_db()
        assert f'charged <strong class="cost">{usd(generation.cost_micros)}' in again
    assert again.count('class="took"') == 2


def test_compare_needs_two_to_four_models(signed_in):
    response = signed_in.post(
        reverse("studio:compare"), compare_form(models=["qwen-image:generate"]), headers=HTMX
    )

    assert response.headers["HX-Retarget"] == "#compare-form"
    assert "Pick 2 to 4 models to compare." in response.text
    assert not Generation.objects.exists()


def test_compare_prices_all_models_together(client, catalog):
    response = client.get(reverse("studio:compare-quote"), compare_form(), headers=HTMX)

    # qwen-image at fal's $0.02 per megapixel, qwen-image-2512 at Replicate's $0.02 per image
    # (fal rounds its 1.05 megapixels up to 2).
    assert f'class="cost">{usd(QWEN_IMAGE_1K + 20_000)}<' in response.text


def test_the_compare_page_asks_for_models_first(client, catalog):
    text = client.get(reverse("studio:compare")).text

    assert 'name="models" value="qwen-image:generate"' in text
    assert 'name="models" value="qwen-image-edit:edit"' not in text
    assert "Pick 2 to 4 models to compare." in text


def test_anonymous_visitors_cannot_compare(client, catalog, user):
    shared = finished_generation(user)

    response = client.post(reverse("studio:compare"), compare_form())
    page = client.get(reverse("studio:compare"), {"g": [shared.pk]})

    assert response.status_code == 302
    assert Generation.objects.get() == shared
    assert page.status_code == 200
    assert f'id="gen-{shared.pk}"' not in page.text
