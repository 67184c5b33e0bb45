"""The playground page through the test client: the model picker, a model's controls, the price
preview, and how they follow the catalog."""

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from playground.accounts.money import format_usd_rounded
from playground.accounts.templatetags.money import usd
from playground.catalog.cache import catalog_version_bump
from playground.catalog.services import catalog_load, catalog_read
from playground.gateway.models import Generation
from tests import factories
from tests.factories import (
    HTMX,
    QWEN_IMAGE_1K,
    START,
    run_form,
)

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_see_the_playground_with_a_sign_up_prompt(client, catalog):
    response = client.get(reverse("studio:playground"))

    assert response.status_code == 200
    assert 'name="prompt"' in response.text
    assert "Sign up</a> and verify your email for $1.00 of free starter credits" in response.text
    assert 'type="submit">Generate' not in response.text
    assert usd(QWEN_IMAGE_1K) in response.text  # the price before running


def test_the_model_picker_groups_models_by_mode_with_their_prices(client, catalog):
    text = client.get(reverse("studio:playground")).text

    generate_group, edit_group = text.split('<optgroup label="Image edit">')
    assert '<optgroup label="Text to image">' in generate_group
    label = f"Qwen Image · {format_usd_rounded(QWEN_IMAGE_1K)}"
    assert f'value="qwen-image:generate" selected>{label}' in text
    assert 'value="qwen-image-2512:generate"' in generate_group
    assert 'value="qwen-image-2512:edit"' in edit_group
    assert 'value="qwen-image-edit:edit"' in edit_group
    assert 'value="qwen-image-edit:generate"' not in text


def test_a_models_default_controls_follow_the_catalog(client, catalog):
    playground = reverse("studio:playground")
    first = client.get(playground).text
    again = client.get(playground).text
    with_values = client.get(playground, {"negative_prompt": "blurry"}).text
    catalog_version_bump()  # another process changed the catalog, though not these controls
    after_bump = client.get(playground).text
    data = catalog_read()
    data["parameters"]["cfg_scale"]["description"] = "Guidance, described anew."
    catalog_load(data=data)
    after_load = client.get(playground).text

    assert "What to keep out of the picture" in first
    assert _csrf_free(again) == _csrf_free(first)
    assert "blurry</textarea>" in with_values  # values of its own
    assert "blurry</textarea>" not in client.get(playground).text
    assert _csrf_free(after_bump) == _csrf_free(first)
    assert "Guidance, described anew." not in first
    assert "Guidance, described anew." in after_load


def _csrf_free(page: str) -> str:
    """The page without its CSRF tokens, which Django masks anew on every response."""
    return re.sub(r"\b[A-Za-z0-9]{64}\b", "", page)


def test_the_catalog_link_opens_the_model_it_names(client, catalog):
    text = client.get(reverse("studio:playground"), {"model": "qwen-image-edit"}).text

    assert 'value="qwen-image-edit:edit" selected' in text
    assert 'type="file" name="images"' in text
    assert 'accept="image/png,image/jpeg,image/webp"' in text


def test_a_model_with_two_modes_opens_in_the_mode_asked_for(client, catalog):
    text = client.get(reverse("studio:playground"), {"model": "qwen-image-2512:edit"}).text

    assert 'value="qwen-image-2512:edit" selected' in text
    assert 'name="strength"' in text  # image to image only


def test_every_form_carries_a_csrf_token_and_posts_without_one_are_refused(user, catalog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    text = client.get(reverse("studio:playground")).text
    refused = client.post(reverse("studio:generate"), run_form(), headers=HTMX)

    assert text.count("<form") == text.count('name="csrfmiddlewaretoken"')
    assert refused.status_code == 403
    assert not Generation.objects.exists()


# The model's controls


def test_choosing_a_model_swaps_in_its_controls_and_keeps_what_was_typed(client, catalog):
    response = client.get(
        reverse("studio:controls"),
        {"model": "qwen-image-edit:edit", "prompt": "make it blue", "n": "3", "seed": "42"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="controls"')
    assert "<html" not in response.text
    assert "make it blue</textarea>" in response.text
    assert 'value="3" id="id_n_2" required checked' in response.text
    assert 'value="42"' in response.text
    assert 'type="file" name="images"' in response.text
    assert response.headers["HX-Push-Url"] == "/playground/?model=qwen-image-edit%3Aedit"
    assert "HX-Request" in response.headers["Vary"]


def test_controls_without_htmx_redirect_to_the_page(client, catalog):
    response = client.get(reverse("studio:controls"), {"model": "qwen-image"})

    assert response.status_code == 302
    assert response.url == "/playground/?model=qwen-image%3Agenerate"


def test_an_unknown_model_has_no_controls(client, catalog):
    response = client.get(reverse("studio:controls"), {"model": "dall-e"}, headers=HTMX)

    assert response.status_code == 404


def test_controls_come_from_the_catalog(client, catalog):
    text = client.get(
        reverse("studio:controls"), {"model": "qwen-image:generate"}, headers=HTMX
    ).text

    ratios = re.findall(r'name="aspect_ratio" value="([^"]+)"', text)
    assert ratios == ["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "custom"]
    assert re.findall(r'name="resolution" value="([^"]+)"', text) == ["1K"]
    assert 'name="width"' in text and 'max="14142"' in text
    assert re.findall(r'name="n" value="(\d)"', text) == ["1", "2", "3", "4"]
    assert 'name="cfg_scale"' in text
    assert 'name="num_inference_steps"' in text
    assert 'name="strength"' not in text  # only for image to image
    assert 'type="file"' not in text
    # Provider flags, each under its provider, typed from the catalog.
    assert "fal.ai flags" in text and "Replicate flags" in text
    acceleration = r'name="acceleration"[^>]*>\s*<option value="" selected>Default \(none\)'
    assert re.search(acceleration, text)
    assert '<option value="high">high</option>' in text
    assert re.search(r'name="go_fast"[^>]*>\s*<option value="" selected>Default</option>', text)
    assert '<option value="" selected>Default (on)</option>' in text  # enable_safety_checker


def test_provider_flags_follow_the_providers_of_the_mode(client, catalog):
    text = client.get(
        reverse("studio:controls"), {"model": "qwen-image-2512:edit"}, headers=HTMX
    ).text

    assert 'name="go_fast"' in text  # Replicate sells 2512 edits
    assert 'name="acceleration"' not in text  # fal sells 2512 for text to image only


# The price


def test_the_price_follows_n_and_size(client, catalog):
    def price(**values):
        response = client.get(reverse("studio:quote"), run_form(**values), headers=HTMX)
        return re.search(r'class="cost">(.+?)</strong>', response.text)[1]

    assert price() == usd(QWEN_IMAGE_1K)
    assert price(n="3") == usd(3 * QWEN_IMAGE_1K)
    assert price(aspect_ratio="custom", width="512", height="512") == usd(5_243)
    assert price(model="qwen-image-edit-plus:edit") == "$0.03"


@pytest.mark.parametrize("model", ["qwen-image:generate", "qwen-image-edit-plus:edit"])
def test_a_models_default_run_shows_the_price_of_its_quote(signed_in, model):
    def cost(response) -> str:
        return re.search(r'class="cost">(.+?)</strong>', response.text)[1]

    pages = [signed_in.get(reverse("studio:playground"), {"model": model}) for _ in range(2)]
    catalog_version_bump()
    pages.append(signed_in.get(reverse("studio:playground"), {"model": model}))
    quoted = signed_in.get(reverse("studio:quote"), run_form(model=model), headers=HTMX)

    assert {cost(page) for page in pages} == {cost(quoted)}


def test_an_impossible_size_is_explained_and_cannot_run(signed_in):
    response = signed_in.get(
        reverse("studio:quote"),
        run_form(aspect_ratio="custom", width="14000", height="14000"),
        headers=HTMX,
    )

    assert "at most 16,777,216 pixels" in response.text
    assert '<button type="submit" disabled>' in response.text


def test_the_price_sits_next_to_the_balance(signed_in):
    response = signed_in.get(reverse("studio:quote"), run_form(), headers=HTMX)

    assert f'Balance <span class="balance-amount">{usd(START)}</span>' in response.text
    assert '<button type="submit">Generate</button>' in response.text


def test_a_short_balance_turns_the_button_into_a_top_up_link(client, catalog, settings):
    settings.STARTER_CREDITS_USD = "0.01"
    client.force_login(factories.user_with_account())

    response = client.get(reverse("studio:quote"), run_form(), headers=HTMX)

    assert 'href="/accounts/top-up/">Balance too low · Top up</a>' in response.text
    assert 'type="submit"' not in response.text


# The catalog


def test_an_empty_catalog_is_said_plainly(client, db):
    playground = client.get(reverse("studio:playground"))
    compare = client.get(reverse("studio:compare"))

    assert "No model is available right now" in playground.text
    assert compare.status_code == 200


@pytest.mark.parametrize("who", ["visitor", "member"])
def test_the_playground_reads_as_much_for_one_model_as_for_many(
    client, user, catalog, django_assert_num_queries, who
):
    """Every option of the picker is priced from the models loaded once, not one quote each."""
    if who == "member":
        client.force_login(user)
    with CaptureQueriesContext(connection) as first:
        assert client.get(reverse("studio:playground")).status_code == 200

    data = catalog_read()
    extras = [
        data["models"][0] | {"id": f"qwen-image-copy-{index}", "name": f"Copy {index}"}
        for index in range(3)
    ]
    catalog_load(data=data | {"models": [*data["models"], *extras]})
    with django_assert_num_queries(len(first)):
        page = client.get(reverse("studio:playground"))
    assert "Copy 2" in page.content.decode()
