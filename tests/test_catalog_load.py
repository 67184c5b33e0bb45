"""Loading the catalog data file: idempotent, complete, and what staff change shows on the pages."""

import os

import pytest
from django.core.cache import caches
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from playground.catalog.cache import VERSION_KEY, catalog_version, catalog_version_bump
from playground.catalog.models import ImageModel, Offering, PriceUnit, ProviderInfo
from playground.catalog.services import catalog_load, catalog_read

pytestmark = pytest.mark.django_db

DOC_SECTIONS = ("overview", "strengths", "limitations", "technical_background", "best_for")


def _snapshot() -> list[tuple]:
    models = ImageModel.objects.values_list("pk", "slug", "docs", "sizes", "is_active")
    offerings = Offering.objects.values_list(
        "pk", "provider", "provider_model_id", "price_micros", "price_unit", "is_estimate"
    )
    return [*models.order_by("pk"), *offerings.order_by("pk")]


def test_loading_twice_changes_nothing(catalog):
    before = _snapshot()

    call_command("load_catalog", verbosity=0)

    assert _snapshot() == before
    assert ImageModel.objects.count() == 5
    assert ProviderInfo.objects.count() == len(catalog_read()["providers"])


def test_dry_run_writes_nothing(db):
    call_command("load_catalog", "--dry-run", verbosity=0)

    assert not ImageModel.objects.exists()


def test_every_model_is_documented(catalog):
    for model in ImageModel.objects.all():
        for section in DOC_SECTIONS:
            assert model.docs.get(section), f"{model.slug} lacks {section}"
        assert len(model.docs["strengths"]) >= 3 and len(model.docs["limitations"]) >= 3
        assert model.docs["faq"] and model.docs["gallery"]
        assert model.offerings.filter(is_active=True).exists()
        for mode in model.modes:
            assert model.docs["examples"].get(mode), f"{model.slug} has no {mode} example"


def test_known_prices_are_exact_and_the_rest_estimates(catalog):
    confirmed = {
        ("qwen-image", "fal"): (20_000, PriceUnit.MEGAPIXEL),
        ("qwen-image-2512", "fal"): (20_000, PriceUnit.MEGAPIXEL_UP),
        ("qwen-image-edit", "fal"): (30_000, PriceUnit.MEGAPIXEL),
    }
    task_api = Offering.objects.get(model__slug="qwen-image-2512", provider="qwen2512")

    for offering in Offering.objects.select_related("model"):
        price = confirmed.get((offering.model.slug, offering.provider))
        assert offering.is_estimate is (price is None), offering
        if price:
            assert (offering.price_micros, offering.price_unit) == price
    assert task_api.native_price == "5 credits per image"
    assert task_api.modes == ["generate"]


def test_model_parameters_are_shared_definitions_with_overrides(catalog):
    def parameter(slug: str, name: str) -> dict | None:
        docs = ImageModel.objects.get(slug=slug).docs
        return next((p for p in docs["parameters"] if p["name"] == name), None)

    shared = catalog_read()["parameters"]["acceleration"]
    pinned = parameter("qwen-image-edit-2509", "acceleration")

    assert parameter("qwen-image", "acceleration") == {"name": "acceleration", **shared}
    assert pinned["choices"] == ["none", "regular"]
    assert pinned["provider"] == shared["provider"] == "fal"
    assert parameter("qwen-image-2512", "strength")["modes"] == ["edit"]
    assert parameter("qwen-image", "strength") is None


def test_a_flag_of_an_unknown_provider_is_refused(db):
    data = catalog_read()
    data["parameters"] = data["parameters"] | {
        "turbo": {"group": "provider", "provider": "nobody", "type": "boolean", "modes": []}
    }

    with pytest.raises(ValueError, match="unknown provider of turbo"):
        catalog_load(data=data)


def test_a_model_left_out_of_the_file_is_retired(client, catalog):
    data = catalog_read()
    catalog_load(data=data | {"models": data["models"][:-1]})

    retired = "qwen-image-edit-2509"
    assert client.get(reverse("catalog:model-detail", args=[retired])).status_code == 404
    assert retired not in client.get(reverse("catalog:model-list")).content.decode()
    assert retired not in client.get(reverse("catalog:sitemap")).content.decode()


def test_staff_edits_in_the_admin_show_on_the_next_request(client, admin_client, catalog):
    page = reverse("catalog:model-detail", args=["qwen-image"])
    offering = Offering.objects.get(model__slug="qwen-image", provider="replicate")
    before = client.get(page).text

    _admin_change(admin_client, offering, price_micros=12_345)
    repriced = client.get(page).text
    _admin_change(admin_client, ProviderInfo.objects.get(slug="replicate"), name="Replicate Two")
    renamed = client.get(page).text
    delete = reverse("admin:catalog_offering_delete", args=[offering.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 302
    deleted = client.get(page).text

    assert "$0.012345" not in before
    assert "$0.012345" in repriced
    assert "Replicate Two" in renamed
    assert "Replicate Two" not in deleted


def _admin_change(admin_client, instance, **changes) -> None:
    """Save `instance` through its admin change form, with `changes` to what the form shows."""
    url = reverse(f"admin:catalog_{instance._meta.model_name}_change", args=[instance.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields} | changes
    data = {name: value for name, value in data.items() if value not in (None, False)}
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors


def test_a_load_shows_on_the_next_request(client, catalog):
    page = reverse("catalog:model-detail", args=["qwen-image"])
    before = client.get(page).text
    data = catalog_read()
    data["models"][0]["overview"] = "Loaded anew."
    catalog_load(data=data)

    assert "Loaded anew." not in before
    assert "Loaded anew." in client.get(page).text


def test_a_process_keeps_its_read_until_the_catalogs_version_moves(client, catalog):
    page = reverse("catalog:model-detail", args=["qwen-image"])
    client.get(page)

    # A change no service made, such as a raw UPDATE in a shell, moves no version.
    Offering.objects.filter(model__slug="qwen-image", provider="replicate").update(
        price_micros=12_345
    )
    kept = client.get(page).text
    catalog_version_bump()
    read_again = client.get(page).text

    assert "$0.012345" not in kept
    assert "$0.012345" in read_again


def test_a_version_is_read_from_the_database_once(client, catalog):
    page = reverse("catalog:model-detail", args=["qwen-image"])
    with CaptureQueriesContext(connection) as first:
        client.get(page)
    with CaptureQueriesContext(connection) as second:
        client.get(page)
    catalog_version_bump()
    with CaptureQueriesContext(connection) as after_bump:
        client.get(page)

    def catalog_reads(queries) -> int:
        return sum("catalog_" in query["sql"] for query in queries)

    assert catalog_reads(first) == 3  # the models, their offerings, the providers' names
    assert catalog_reads(second) == 0
    assert catalog_reads(after_bump) == 3


@pytest.mark.parametrize("backend", ["default", "redis"])
def test_the_version_lives_in_the_shared_cache(settings, backend):
    """Every process reads the version from `caches["default"]`: a bump by one is seen by all,
    and a version that went missing comes back as one no process has seen."""
    if backend == "redis":
        url = os.environ.get("REDIS_URL")
        if not url:
            pytest.skip("REDIS_URL is not set")
        settings.CACHES = settings.CACHES | {
            "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
        }
        caches["default"].delete(VERSION_KEY)
    first = catalog_version()
    catalog_version_bump()
    bumped = catalog_version()
    caches["default"].delete(VERSION_KEY)
    fresh = catalog_version()

    assert catalog_version() == fresh
    assert bumped == first + 1
    assert fresh not in (first, bumped)
