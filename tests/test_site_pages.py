"""The site-wide pages: terms, privacy, contact, status, robots.txt, the footer, the social
tags, and the 404 and 500 pages."""

import html as entities
import re

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings
from django.urls import path, reverse

from playground import urls as site_urls
from playground.catalog.models import ImageModel
from playground.gateway import circuit

pytestmark = pytest.mark.django_db


def _raise(request):
    raise RuntimeError("boom")


urlpatterns = [path("explode/", _raise), *site_urls.urlpatterns]
handler500 = site_urls.handler500


def _meta(html: str, key: str) -> str:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    assert found, f"no {key} tag"
    return entities.unescape(found.group(1))


@pytest.fixture
def operator(settings):
    settings.SITE_NAME = "Pixel Works"
    settings.CONTACT_EMAIL = "help@pixel.test"
    settings.OPERATOR_LEGAL_NAME = "Pixel Works GmbH"
    settings.OPERATOR_ADDRESS = "1 Example Street, Berlin"


@pytest.mark.parametrize("name", ["terms", "privacy", "contact"])
def test_legal_pages_name_the_operator_and_the_contact_address(client, operator, name):
    response = client.get(reverse(name))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Pixel Works GmbH" in html and "1 Example Street, Berlin" in html
    assert '<a href="mailto:help@pixel.test">help@pixel.test</a>' in html
    assert "<title>" in html and "· Pixel Works</title>" in html
    assert "templates/site/" not in html  # where to edit is said in a template comment only


def test_terms_say_credits_are_prepaid_and_privacy_says_what_is_stored(client):
    terms = client.get(reverse("terms")).content.decode()
    privacy = client.get(reverse("privacy")).content.decode()

    assert "non-refundable, except where the law requires" in terms and "Stripe" in terms
    for stored in ("email address", "Prompts", "API usage", "IP addresses", "session cookie"):
        assert stored in privacy
    assert "Deleting your account" in privacy


def test_every_page_has_the_footer(client, catalog, operator):
    html = client.get(reverse("catalog:pricing")).content.decode()

    footer = html[html.index('<footer class="site-footer">') :]
    for name in ("terms", "privacy", "contact", "status", "catalog:api-docs", "catalog:faq"):
        assert f'href="{reverse(name)}"' in footer
    assert re.search(r"© 20\d\d Pixel Works GmbH", footer)
    assert '<a class="brand" href="/?home">Pixel Works</a>' in html


def test_status_page_shows_storage_providers_and_models(client, catalog, monkeypatch):
    monkeypatch.setenv("FAL_KEY", "fal-test-key")
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8-test-token")
    for _ in range(circuit.THRESHOLD):
        async_to_sync(circuit.record_failure)("fal")
    async_to_sync(circuit.record_failure)("replicate")

    response = client.get(reverse("status"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    assert 'Database: <span class="state state-up">Operational</span>' in html
    assert 'Image storage: <span class="state state-up">Operational</span>' in html
    assert 'fal.ai: <span class="state state-down">Unavailable</span>' in html
    assert 'Replicate: <span class="state state-degraded">Degraded</span>' in html
    assert "Demo (local)" not in html
    # A model is as good as its best provider: degraded where Replicate sells it too.
    rows = re.findall(
        r'<a href="/models/([\w-]+)/">.*?</a></td>\s*'
        r'<td><span class="state state-(\w+)">.*?</span></td>\s*<td>(.*?)</td>',
        html,
    )
    assert {slug: (state, set(names.split(", "))) for slug, state, names in rows} == {
        "qwen-image": ("degraded", {"fal.ai", "Replicate"}),
        "qwen-image-2512": ("degraded", {"fal.ai", "Replicate"}),
        "qwen-image-edit": ("degraded", {"fal.ai", "Replicate"}),
        "qwen-image-edit-plus": ("degraded", {"fal.ai", "Replicate"}),
        "qwen-image-edit-2509": ("down", {"fal.ai"}),
    }


def test_status_page_shows_models_whose_only_provider_is_skipped(client, catalog, monkeypatch):
    monkeypatch.setenv("FAL_KEY", "fal-test-key")
    for _ in range(circuit.THRESHOLD):
        async_to_sync(circuit.record_failure)("fal")

    html = client.get(reverse("status")).content.decode()

    assert "state-up" in html  # the database and storage
    models = html[html.index('id="models"') :]
    assert "state-up" not in models and "state-degraded" not in models
    assert models.count('<span class="state state-down">Unavailable</span>') == (
        ImageModel.objects.filter(is_active=True).count()
    )


def test_status_page_without_providers_shows_the_demo(client, catalog):
    html = client.get(reverse("status")).content.decode()

    assert "the built-in demo provider answers every request" in html
    assert 'Demo (local): <span class="state state-up">Operational</span>' in html
    assert "state-down" not in html


def test_status_page_says_when_storage_fails(client, catalog, settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings.MEDIA_ROOT = blocker

    html = client.get(reverse("status")).content.decode()

    assert 'Image storage: <span class="state state-down">Unavailable</span>' in html


def test_robots_txt_points_at_the_sitemap_and_keeps_crawlers_out_of_private_parts(client):
    response = client.get("/robots.txt")

    text = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "Sitemap: http://testserver/sitemap.xml" in text
    for private in ("/accounts/", "/playground/generations/", "/v1/"):
        assert f"Disallow: {private}\n" in text
    assert "admin" not in text  # public: it would give away a moved admin
    assert "Allow: /\n" in text
    assert not text.startswith("\n")


def test_sitemap_lists_the_new_pages(client, catalog):
    xml = client.get(reverse("catalog:sitemap")).content.decode()

    for name in ("terms", "privacy", "contact", "status"):
        assert f"<loc>http://testserver{reverse(name)}</loc>" in xml


@pytest.mark.parametrize("url", ["/", "/pricing/", "/models/qwen-image/"])
def test_pages_carry_social_tags_from_their_title_and_description(client, catalog, url):
    response = client.get(url, follow=True)

    html = response.content.decode()
    title = entities.unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1))
    description = _meta(html, "description")
    assert title and description
    assert _meta(html, "og:title") == _meta(html, "twitter:title") == title
    assert _meta(html, "og:description") == _meta(html, "twitter:description") == description
    assert _meta(html, "og:url") == f"http://testserver{response.request['PATH_INFO']}"
    assert _meta(html, "og:image") == "http://testserver/static/img/social.png"
    assert _meta(html, "twitter:image") == _meta(html, "og:image")
    assert _meta(html, "og:site_name") == "Qwen Image Playground"
    assert _meta(html, "og:type") == "website"
    assert _meta(html, "twitter:card") == "summary_large_image"


def test_social_tags_name_the_model_and_the_pricing_page(client, catalog):
    model = ImageModel.objects.get(slug="qwen-image")
    model_page = client.get(reverse("catalog:model-detail", args=[model.slug])).content.decode()
    pricing = client.get(reverse("catalog:pricing")).content.decode()

    assert _meta(model_page, "og:title").startswith(f"{model.name} API")
    assert _meta(model_page, "og:description") == model.summary
    assert _meta(pricing, "og:title").startswith("Pricing of every Qwen image model")
    assert _meta(pricing, "og:description").startswith("What each Qwen image model costs")


@override_settings(DEBUG=False)
def test_a_missing_page_gets_the_styled_404(client, catalog):
    response = client.get("/no/such/page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "<h1>Page not found</h1>" in html and "<code>/no/such/page/</code>" in html
    assert '/static/css/site.css"' in html and '<footer class="site-footer">' in html


@override_settings(DEBUG=False)
def test_a_missing_api_path_stays_json(client):
    response = client.get("/v1/no-such-endpoint")

    assert response.status_code == 404
    assert "error" in response.json()


@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_a_failing_view_gets_the_styled_500(client, user, operator):
    client.force_login(user)
    client.raise_request_exception = False

    response = client.get("/explode/")

    html = response.content.decode()
    assert response.status_code == 500
    assert "<h1>Something went wrong</h1>" in html
    assert '<a href="mailto:help@pixel.test">help@pixel.test</a>' in html
    assert '<a class="brand" href="/?home">Pixel Works</a>' in html
    assert "© " in html and "Pixel Works GmbH" in html
    assert user.get_username() not in html  # rendered without the request's context
