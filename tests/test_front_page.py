"""The front page at `/`: what the site does, the models with a picture and a price, an API call,
the way to the playground, and the signed-in user's choice to start in the playground."""

import pytest
from django.test import Client
from django.urls import reverse

from playground.accounts.templatetags.money import usd
from playground.catalog.selectors import model_entries
from playground.views import START_COOKIE
from tests.factories import finished_generation

pytestmark = pytest.mark.django_db

HOME = reverse("home")
START = reverse("home-start")


def test_the_front_page_shows_the_models_prices_and_an_api_call(client, catalog):
    response = client.get(HOME)

    html = response.text
    playground = reverse("studio:playground")
    assert response.status_code == 200
    assert "<title>Qwen Image Playground: Qwen image models" in html
    assert '<meta name="description" content="Make and edit pictures' in html
    assert f'<a class="button big" href="{playground}">Open the playground</a>' in html
    for entry in model_entries():
        model, page = entry.model, reverse("catalog:model-detail", args=[entry.model.slug])
        assert f'<a href="{page}">{model.name}</a>' in html
        assert f'href="{playground}?model={model.slug}"' in html
        assert f"from <strong>{usd(entry.cheapest.image_price_micros)}</strong> per image" in html
    assert "curl http://testserver/v1/images/generations" in html
    assert "base_url=&quot;http://testserver/v1&quot;" in html


def test_models_are_pictured_by_placeholders_until_one_is_published(client, user, catalog):
    placeholders = client.get(HOME).text
    image = finished_generation(user, prompt="a kite over dunes").images.get()
    client.force_login(user)
    client.post(reverse("studio:image-publish", args=[image.pk]))
    published = Client().get(HOME).text

    assert placeholders.count('<span class="badge">placeholder</span>') == len(model_entries())
    assert "Recently published" not in placeholders
    assert published.count('<span class="badge">placeholder</span>') == len(model_entries()) - 1
    assert published.count(f'<img src="{image.file.url}"') == 2  # the card and the gallery
    assert "a kite over dunes" in published
    assert f"?gallery={image.pk}" in published


def test_the_front_page_takes_few_queries(client, user, catalog, django_assert_max_num_queries):
    owner = Client()
    owner.force_login(user)
    for prompt in ("one", "two"):
        image = finished_generation(user, prompt=prompt).images.get()
        owner.post(reverse("studio:image-publish", args=[image.pk]))
    client.get(HOME)  # the catalog is read once per process and version

    with django_assert_max_num_queries(2):
        response = client.get(HOME)

    assert response.text.count(">Reuse these settings</a>") == 2


def test_a_signed_in_user_may_start_in_the_playground(signed_in):
    chosen = signed_in.post(START, {"start": "playground"})
    landing = signed_in.get(HOME)
    front = signed_in.get(HOME, {"home": ""})
    undone = signed_in.post(START, {"start": "home"})

    assert chosen.status_code == 302 and chosen.url == f"{HOME}?home"
    assert chosen.cookies[START_COOKIE]["max-age"] == 365 * 24 * 60 * 60
    assert landing.status_code == 302 and landing.url == reverse("studio:playground")
    assert front.status_code == 200
    assert "Start on this page next time</button>" in front.text
    assert undone.cookies[START_COOKIE].value == ""
    assert signed_in.get(HOME).status_code == 200
    assert "Start in the playground next time</button>" in signed_in.get(HOME).text


def test_the_choice_applies_to_signed_in_users_only(client, catalog):
    client.cookies[START_COOKIE] = "playground"

    assert client.get(HOME).status_code == 200
    assert client.post(START, {"start": "playground"}).url.startswith(reverse("account_login"))
    assert "next time</button>" not in client.get(HOME).text


def test_an_unknown_choice_is_refused(signed_in):
    response = signed_in.post(START, {"start": "elsewhere"})

    assert response.status_code == 400
    assert START_COOKIE not in response.cookies


def test_the_brand_link_always_shows_the_front_page(signed_in):
    signed_in.post(START, {"start": "playground"})

    html = signed_in.get(reverse("studio:playground")).text

    assert f'<a class="brand" href="{HOME}?home">' in html


def test_the_sitemap_lists_the_front_page(client, catalog):
    xml = client.get(reverse("catalog:sitemap")).text

    assert "<loc>http://testserver/</loc>" in xml
