"""Loading the catalog data file: idempotent, complete, and what staff change shows on the pages."""

import pytest
from django.core.management import call_command
from django.db.models.sql.compiler import SQLCompiler
from django.urls import reverse

from playground.catalog import selectors
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
    pinned = Offering.objects.get(model__slug="qwen-image-edit-2509", provider="fal")
    task_api = Offering.objects.get(model__slug="qwen-image-2512", provider="qwen2512")

    assert (pinned.price_micros, pinned.price_unit, pinned.is_estimate) == (
        30_000,
        PriceUnit.IMAGE,
        False,
    )
    assert task_api.native_price == "5 credits per image"
    assert task_api.is_estimate
    assert task_api.modes == ["generate"]
    assert set(Offering.objects.exclude(pk=pinned.pk).values_list("is_estimate", flat=True)) == {
        True
    }


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


def test_staff_edits_show_on_the_pages(client, admin_client, catalog):
    model = ImageModel.objects.get(slug="qwen-image")
    change_page = reverse("admin:catalog_imagemodel_change", args=[model.pk])
    assert admin_client.get(change_page).status_code == 200

    model.docs = model.docs | {"overview": "Edited by staff in the admin."}
    model.save()
    Offering.objects.filter(model=model, provider="replicate").update(price_micros=12_345)

    html = client.get(reverse("catalog:model-detail", args=["qwen-image"])).content.decode()
    assert "Edited by staff in the admin." in html
    assert "$0.012345" in html


def test_a_process_keeps_its_read_of_the_catalog_for_a_moment(client, catalog, monkeypatch):
    url = reverse("catalog:model-detail", args=["qwen-image"])
    assert "$0.012345" not in client.get(url).content.decode()

    # Another process changes a price: nothing tells this one.
    Offering.objects.filter(model__slug="qwen-image", provider="replicate").update(
        price_micros=12_345
    )
    kept = client.get(url).content.decode()
    monkeypatch.setattr(selectors, "CATALOG_MAX_AGE_SECONDS", 0)  # its read is now too old
    read_again = client.get(url).content.decode()

    assert "$0.012345" not in kept
    assert "$0.012345" in read_again


def test_a_read_that_finds_the_catalog_unchanged_keeps_the_read_before(catalog, monkeypatch):
    monkeypatch.setattr(selectors, "CATALOG_MAX_AGE_SECONDS", 0)  # every use reads again
    first = selectors.catalog_current()
    unchanged = selectors.catalog_current()
    Offering.objects.filter(model__slug="qwen-image", provider="replicate").update(
        price_micros=12_345
    )
    repriced = selectors.catalog_current()
    ProviderInfo.objects.filter(slug="replicate").update(name="Replicate, renamed")
    renamed = selectors.catalog_current()
    ImageModel.objects.filter(slug="qwen-image").update(docs={"overview": "Redocumented."})
    redocumented = selectors.catalog_current()

    assert unchanged is first  # with the options and prices worked out from it
    assert repriced is not first
    offerings = repriced.model("qwen-image").offerings.all()
    assert {o.price_micros for o in offerings if o.provider == "replicate"} == {12_345}
    assert renamed is not repriced
    assert renamed.provider_names["replicate"] == "Replicate, renamed"
    assert redocumented is not renamed
    assert redocumented.model("qwen-image").docs == {"overview": "Redocumented."}


def test_a_check_of_the_catalog_compiles_no_query(catalog, monkeypatch, django_assert_num_queries):
    """The check, every CATALOG_MAX_AGE_SECONDS in every process, sends statements compiled
    once: three, and no work of the ORM's."""
    monkeypatch.setattr(selectors, "CATALOG_MAX_AGE_SECONDS", 0)
    first = selectors.catalog_current()
    compiled = []
    as_sql = SQLCompiler.as_sql

    def counted(self, *args, **kwargs):
        compiled.append(self.query.model)
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counted)

    with django_assert_num_queries(3):
        assert selectors.catalog_current() is first

    assert compiled == []
