"""The catalog pages through the test client: every page answers for every model with its prices
and id, in a fixed number of queries, as well-formed documents, and the tables say what the code
does."""

import re
from html import unescape
from html.parser import HTMLParser
from itertools import pairwise

import pytest
from django.templatetags.static import static
from django.urls import reverse

from playground.accounts.templatetags.money import usd
from playground.catalog.gallery import STATIC_DIR, gallery_items
from playground.catalog.models import ImageModel, Mode
from playground.catalog.selectors import model_entries
from playground.catalog.services import catalog_load, catalog_read
from playground.gateway import errors, schemas
from playground.gateway.fit import Asked, Unfit, offering_fit
from playground.gateway.normalize import resolve_size
from playground.providers.base import GATEWAY_PARAMETERS, Behaviour
from playground.providers.registry import PROVIDER_CLASSES
from tests import factories

pytestmark = pytest.mark.django_db

MODEL_IDS = [entry["id"] for entry in catalog_read()["models"]]
CATALOG_READ = 3  # a new version: the models, their offerings, the providers' names
PAGES = ["catalog:model-list", "catalog:pricing", "catalog:faq", "catalog:api-docs"]


class Page(HTMLParser):
    """What the tests read from a rendered page: headings, head tags, code blocks, table rows."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.headings: list[tuple[int, str]] = []
        self.meta: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.code: list[tuple[dict[str, str], str]] = []
        self.rows: list[dict[str, str]] = []
        self._capture: tuple[str, dict[str, str]] | None = None
        self._text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = {name: value or "" for name, value in attrs}
        if tag == "meta" and "name" in attributes:
            self.meta[attributes["name"]] = attributes.get("content", "")
        elif tag == "link" and "rel" in attributes:
            self.links[attributes["rel"]] = attributes.get("href", "")
        elif tag == "tr" and any(name.startswith("data-") for name in attributes):
            self.rows.append(attributes)
        elif tag in {"title", "code", "h1", "h2", "h3", "h4", "h5", "h6"} and not self._capture:
            self._capture, self._text = (tag, attributes), []

    def handle_endtag(self, tag):
        if self._capture and self._capture[0] == tag:
            text = "".join(self._text)
            if tag == "title":
                self.title = text
            elif tag == "code":
                self.code.append((self._capture[1], text))
            else:
                self.headings.append((int(tag[1]), " ".join(text.split())))
            self._capture = None

    def handle_data(self, data):
        if self._capture:
            self._text.append(data)

    def code_block(self, **wanted: str) -> str:
        """The text of the one <code> whose data-* attributes are `wanted`."""
        found = [
            text
            for attrs, text in self.code
            if all(attrs.get(f"data-{name}") == value for name, value in wanted.items())
        ]
        assert len(found) == 1, f"{len(found)} code blocks match {wanted}"
        return found[0]


def page_urls() -> list[str]:
    return [reverse(name) for name in PAGES] + [
        reverse("catalog:model-detail", args=[slug]) for slug in MODEL_IDS
    ]


@pytest.mark.parametrize("slug", MODEL_IDS)
def test_model_page_shows_its_id_prices_and_playground_link(client, catalog, slug):
    (entry,) = [entry for entry in model_entries() if entry.model.slug == slug]

    response = client.get(reverse("catalog:model-detail", args=[slug]))

    assert response.status_code == 200
    html = response.content.decode()
    assert f"<code>{slug}</code>" in html
    assert entry.offerings, "every model of the catalog has a provider"
    for item in entry.offerings:
        assert usd(item.offering.price_micros) in html
        assert usd(item.image_price_micros) in html
        assert item.offering.provider_model_id in html
    assert f'href="/playground/?model={slug}"' in html
    for heading in ("Overview", "Strengths", "Limitations", "Technical background", "Best for"):
        assert (2, heading) in Page(html).headings


def test_estimated_and_native_prices_are_marked(client, catalog):
    for entry in model_entries():
        html = client.get(reverse("catalog:model-detail", args=[entry.model.slug])).text
        table = html[html.index('<section aria-labelledby="pricing">') :].split("</table>")[0]
        for item in entry.offerings:
            row = table[table.index(f'<th scope="row">{item.provider_name}</th>') :]
            price = row.split("</td>")[2]
            assert ('<span class="estimate">estimate</span>' in price) is item.offering.is_estimate
    html = client.get(reverse("catalog:model-detail", args=["qwen-image-2512"])).text
    assert "provider's price: 5 credits per image" in html
    assert "$0.02 per megapixel, rounded up to whole megapixels</td>" in html.replace("\n", "")


def test_unknown_model_is_404(client, catalog):
    assert client.get(reverse("catalog:model-detail", args=["no-such-model"])).status_code == 404


def test_pricing_lists_every_model_and_provider(client, catalog):
    html = client.get(reverse("catalog:pricing")).content.decode()

    for entry in model_entries():
        assert entry.model.slug in html
        for item in entry.offerings:
            assert item.provider_name in html
            assert item.offering.provider_model_id in html
            assert usd(item.offering.price_micros) in html
            assert item.offering.get_price_unit_display() in html


@pytest.mark.parametrize("url", page_urls())
def test_pages_are_well_formed_documents(client, catalog, url):
    response = client.get(url)

    assert response.status_code == 200
    page = Page(response.content.decode())
    levels = [level for level, _ in page.headings]
    assert levels.count(1) == 1 and levels[0] == 1
    assert all(later - earlier <= 1 for earlier, later in pairwise(levels))
    assert page.title.strip() and len(page.meta["description"]) > 50
    assert page.meta["viewport"] == "width=device-width, initial-scale=1"
    assert page.links["canonical"] == f"http://testserver{url}"


@pytest.mark.parametrize(("name", "args", "queries"), [
    ("catalog:model-list", [], 0),
    ("catalog:model-detail", ["qwen-image-2512"], 1),  # its gallery
    ("catalog:pricing", [], 0),
    ("catalog:faq", [], 0),
    ("catalog:api-docs", [], 0),
    ("catalog:sitemap", [], 0),
])  # fmt: skip
def test_query_count_does_not_grow_with_the_catalog(
    client, catalog, django_assert_num_queries, name, args, queries
):
    """Past the process's one read of the catalog, which a change starts again, a page reads
    only its own rows (a model's gallery)."""
    url = reverse(name, args=args)
    client.get(url)
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200

    data = catalog_read()
    extra = data["models"][1] | {"id": "qwen-image-2512-copy", "name": "Another model"}
    catalog_load(data=data | {"models": [*data["models"], extra]})
    with django_assert_num_queries(CATALOG_READ + queries):
        assert client.get(url).status_code == 200
    with django_assert_num_queries(queries):
        assert client.get(url).status_code == 200


def test_index_cards_show_modes_providers_and_starting_price(client, catalog):
    html = client.get(reverse("catalog:model-list")).content.decode()

    for entry in model_entries():
        assert entry.model.name in html
        assert f"from <strong>{usd(entry.cheapest.image_price_micros)}/image" in html
        for label in entry.model.mode_labels:
            assert label in html
    assert "Providers: fal.ai, Replicate" in html


def _card_names(html: str) -> list[str]:
    return [text for level, text in Page(html).headings if level == 3]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("mode=generate", ["Qwen Image", "Qwen Image 2512"]),
        ("provider=qwen2512", ["Qwen Image 2512"]),
        ("q=PLUS", ["Qwen Image Edit Plus"]),
        ("mode=edit&provider=replicate&q=edit", ["Qwen Image Edit", "Qwen Image Edit Plus"]),
        ("q=nothing-like-this", []),
    ],
)
def test_index_filters_without_javascript(client, catalog, query, names):
    response = client.get(f"{reverse('catalog:model-list')}?{query}")

    assert response.status_code == 200
    assert _card_names(response.content.decode()) == names


def test_index_sorts_by_price(client, catalog):
    entries = model_entries()
    cheapest_first = sorted(entries, key=lambda entry: entry.cheapest.image_price_micros)

    url = reverse("catalog:model-list")
    ascending = _card_names(client.get(f"{url}?sort=price").content.decode())
    descending = _card_names(client.get(f"{url}?sort=-price").content.decode())

    prices = [entry.cheapest.image_price_micros for entry in cheapest_first]
    assert prices == sorted(prices) and len(set(prices)) > 1
    assert [ascending.index(entry.model.name) for entry in cheapest_first] == sorted(
        ascending.index(entry.model.name) for entry in cheapest_first
    )
    assert descending[0] == max(entries, key=lambda e: e.cheapest.image_price_micros).model.name


def test_htmx_gets_only_the_results(client, catalog):
    url = f"{reverse('catalog:model-list')}?mode=edit"
    response = client.get(url, headers={"HX-Request": "true"})

    html = response.content.decode()
    assert html.lstrip().startswith('<section id="model-results"')
    assert "<h1>" not in html and "<form" not in html
    assert _card_names(html) == [
        "Qwen Image 2512",
        "Qwen Image Edit",
        "Qwen Image Edit Plus",
        "Qwen Image Edit 2509",
    ]
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client, catalog):
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = client.get(f"{reverse('catalog:model-list')}?mode=edit", headers=headers)

    html = response.content.decode()
    assert "<h1>Qwen image models</h1>" in html and "<form" in html
    assert len(_card_names(html)) == 4


def test_unknown_filter_values_are_ignored_with_a_notice(client, catalog):
    response = client.get(f"{reverse('catalog:model-list')}?provider=nobody")

    assert response.status_code == 200
    assert len(_card_names(response.content.decode())) == len(MODEL_IDS)
    assert "Some filters were not understood" in response.content.decode()


def test_sitemap_lists_every_page(client, catalog):
    response = client.get(reverse("catalog:sitemap"))

    assert response["Content-Type"].startswith("application/xml")
    body = response.content.decode()
    for url in page_urls():
        assert f"<loc>http://testserver{url}</loc>" in body


@pytest.mark.parametrize("slug", MODEL_IDS)
def test_size_presets_table_matches_the_gateway(client, catalog, slug):
    model = ImageModel.objects.get(slug=slug)
    html = client.get(reverse("catalog:model-detail", args=[slug])).content.decode()

    for resolution, ratios in model.sizes["tiers"].items():
        for ratio, pixels in ratios.items():
            width, height = (int(side) for side in pixels.split("x"))
            assert resolve_size(model.sizes, aspect_ratio=ratio, resolution=resolution) == (
                width,
                height,
            )
            assert resolve_size(model.sizes, size=pixels) == (width, height)
            row = (
                f'<th scope="row">{ratio}</th>\n            <td>{width} × {height}</td>\n'
                f'            <td><code>"{pixels}"</code></td>\n'
                f'            <td><code>"{ratio}"</code> + <code>"{resolution}"</code></td>'
            )
            assert row in html


def test_api_docs_size_examples_are_what_the_gateway_does(client, catalog):
    sizes = ImageModel.objects.get(slug="qwen-image").sizes
    page = Page(client.get(reverse("catalog:api-docs")).content.decode())

    assert len(page.rows) >= 6
    for row in page.rows:
        resolved = resolve_size(
            sizes,
            size=row["data-size"] or None,
            aspect_ratio=row["data-aspect-ratio"] or None,
            resolution=row["data-resolution"] or None,
        )
        assert "x".join(map(str, resolved)) == row["data-result"]


def test_api_docs_list_every_error_of_the_gateway(client, catalog):
    html = client.get(reverse("catalog:api-docs")).content.decode()
    table = html[html.index('id="error-table"') :]

    for error_class in errors.GatewayError.__subclasses__():
        row = table[table.index(f'<th scope="row">{error_class.status}</th>') :].split("</tr>")[0]
        assert f"<code>{error_class.type}</code>" in row
        assert f"<code>{error_class.code}</code>" in row
    assert f'href="{"http://testserver/v1/openapi.json"}"' in html


def test_api_docs_state_the_upload_limits_of_this_deployment(client, catalog, settings):
    settings.MAX_EDIT_PIXELS = 60_000_000
    settings.MAX_DECODES_PER_USER = 3

    html = client.get(reverse("catalog:api-docs")).content.decode()

    assert "60 megapixels for all pictures and the mask together" in html
    assert "before any picture is decoded" in html
    assert "The pictures of at most 3 edits of one account" in html


def test_parameter_limits_match_the_request_parser(catalog):
    shared = catalog_read()["parameters"]

    assert shared["prompt"]["max_length"] == schemas.MAX_PROMPT_CHARS
    assert shared["n"]["max"] == schemas.MAX_N
    assert shared["seed"]["max"] == schemas.MAX_SEED
    assert tuple(shared["response_format"]["choices"]) == schemas.RESPONSE_FORMATS
    assert tuple(shared["output_format"]["choices"]) == schemas.OUTPUT_FORMATS
    assert shared["model"]["default"] == schemas.DEFAULT_MODEL
    documented = {
        name: parameter
        for model in ImageModel.objects.all()
        for name in schemas.NUMBERS | schemas.INTEGERS
        if (parameter := _parameter(model, name))
    }
    assert set(documented) == set(schemas.NUMBERS | schemas.INTEGERS)
    # The one range of its own; the others are each model's offerings' (tested on the pages).
    strength = documented["strength"]
    assert (strength["min"], strength["max"]) == schemas.NUMBERS["strength"]
    sizes = catalog_read()["sizes"]
    assert shared["aspect_ratio"]["default"] == sizes["default_ratio"]
    assert shared["resolution"]["default"] == sizes["default_resolution"]


def _parameter(model: ImageModel, name: str) -> dict | None:
    return next((p for p in model.docs["parameters"] if p["name"] == name), None)


def test_model_page_lists_only_its_parameters_and_provider_flags(client, catalog):
    generate_only = client.get(reverse("catalog:model-detail", args=["qwen-image"])).content
    pinned = client.get(reverse("catalog:model-detail", args=["qwen-image-edit-2509"])).content

    assert b'id="param-image"' not in generate_only
    assert b'id="param-go_fast"' in generate_only  # Replicate sells qwen-image
    assert b'id="param-image"' in pinned
    assert b'id="param-go_fast"' not in pinned  # only fal sells the 2509 release
    assert b"Allowed: <code>none, regular</code>" in pinned


@pytest.mark.parametrize("slug", MODEL_IDS)
def test_normalization_table_shows_each_adapters_behaviours(client, catalog, slug):
    (entry,) = [entry for entry in model_entries() if entry.model.slug == slug]
    html = client.get(reverse("catalog:model-detail", args=[slug])).content.decode()
    table = html[html.index('<table class="normalization">') :].split("</table>")[0]

    for provider in entry.providers:
        for name, param in PROVIDER_CLASSES[provider].parameters.items():
            row = table[table.index(f"<code>{name}</code></th>") :].split("</tr>")[0]
            assert f'<span class="behaviour behaviour-{param.behaviour}">' in row
    for name, param in GATEWAY_PARAMETERS.items():
        assert f"<code>{name}</code></th>" in table
        if param.target:
            assert f"→ <code>{param.target}</code>" in table


def test_every_behaviour_is_explained(client, catalog):
    html = client.get(reverse("catalog:model-detail", args=["qwen-image"])).content.decode()

    for behaviour in Behaviour:
        assert f'<span class="behaviour behaviour-{behaviour}">{behaviour}</span></th><td>' in html


def test_gallery_pictures_exist_and_are_labelled_as_demo(client, catalog):
    for model in ImageModel.objects.all():
        items = gallery_items(slug=model.slug, entries=model.docs.get("gallery", []))
        assert items, f"{model.slug} has gallery entries"
        html = client.get(reverse("catalog:model-detail", args=[model.slug])).content.decode()
        assert "they are not the model's work" in html
        for item in items:
            assert (STATIC_DIR / item.static_path).is_file()
            assert static(item.static_path) in html


def test_every_model_has_examples_for_each_of_its_modes(client, catalog):
    for model in ImageModel.objects.all():
        page = Page(client.get(reverse("catalog:model-detail", args=[model.slug])).content.decode())
        for mode in Mode.values:
            blocks = [attrs for attrs, _ in page.code if attrs.get("data-mode") == mode]
            assert len(blocks) == (3 if model.has_mode(mode) else 0)


def _text(html: str) -> str:
    """What a reader sees of `html`: the text, tags gone, whitespace collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _takes(html: str, provider: str) -> str:
    """The text of one provider's part of the "What each provider takes" section."""
    start = html.index(f'<h3 id="takes-{provider}">')
    ends = [html.find(mark, start + 1) for mark in ("<h3", "</section>")]
    return _text(html[start : min(end for end in ends if end > 0)])


def _model_page(client, slug: str) -> str:
    return client.get(reverse("catalog:model-detail", args=[slug])).text


def test_each_provider_says_its_ranges_defaults_and_sizes(client, catalog):
    html = _model_page(client, "qwen-image")
    fal, replicate = _takes(html, "fal"), _takes(html, "replicate")

    assert "num_inference_steps 2–250 30" in fal
    assert "num_inference_steps 1–50 30" in replicate
    assert "cfg_scale 0–20 2.5" in fal and "cfg_scale 0–10 3" in replicate
    assert "acceleration none, regular, high none" in fal
    assert "acceleration" not in replicate  # fal's own flag never reaches Replicate
    assert "Exact pixels, 1–14142 px a side." in fal
    assert "16:9 1664×928" in replicate and "1:1 1328×1328" in replicate
    assert "Input images none (text to image only)" in fal


def test_prices_say_their_unit_rounding_and_estimates(client, catalog):
    html = _model_page(client, "qwen-image-2512")

    assert "Price $0.02 per megapixel, rounded up to whole megapixels Modes" in _takes(html, "fal")
    assert "Price $0.02 per image estimate Modes" in _takes(html, "replicate")
    assert "Price $0.05 per image estimate" in _takes(html, "qwen2512")
    assert "Price $0.02 per megapixel Modes" in _takes(_model_page(client, "qwen-image"), "fal")


def test_editors_say_input_shape_image_count_and_what_has_no_effect(client, catalog):
    edit = _model_page(client, "qwen-image-edit")
    plus = _model_page(client, "qwen-image-edit-plus")
    fitted = _model_page(client, "qwen-image-2512")

    assert "Sizes Keeps the input image's shape. Input images 1" in _takes(edit, "replicate")
    assert "negative_prompt no effect here" in _takes(edit, "replicate")
    assert "num_inference_steps no effect here" in _takes(edit, "replicate")
    assert "negative_prompt any value" in _takes(edit, "fal")
    assert "Input images up to 16" in _takes(plus, "fal")
    assert "Keeps the input image's shape." in _takes(plus, "replicate")
    assert "256–2048 px a side, each a multiple of 16" in _takes(fitted, "replicate")
    assert "strength 0–1 0.8" in _takes(fitted, "replicate")


def _parameter_allowed(html: str, name: str) -> str:
    row = html[html.index(f'<tr id="param-{name}">') :].split("</tr>")[0]
    return _text(row.split("Allowed: <code>")[1].split("</code>")[0])


def test_parameter_reference_gives_the_range_of_the_models_providers_together(client, catalog):
    qwen_image = _model_page(client, "qwen-image")
    fitted = _model_page(client, "qwen-image-2512")
    edit = _model_page(client, "qwen-image-edit")

    assert _parameter_allowed(qwen_image, "num_inference_steps") == "1–250"  # 2-250, 1-50
    assert _parameter_allowed(qwen_image, "cfg_scale") == "0–20"
    assert _parameter_allowed(edit, "num_inference_steps") == "2–50"  # only fal takes it
    # The edit mode is only served by Replicate, which takes 20-50 steps.
    assert _parameter_allowed(fitted, "num_inference_steps") == (
        "Text to image: 1–50; Image edit: 20–50"
    )
    assert _parameter_allowed(_model_page(client, "qwen-image-edit-plus"), "acceleration") == (
        "none, regular"
    )


def test_parameter_reference_ranges_are_what_the_api_refuses_beyond(client, api_key):
    def steps(value: int):
        return client.post(
            "/v1/images/generations",
            {"model": "qwen-image", "prompt": "a lamp", "num_inference_steps": value},
            content_type="application/json",
            headers={"Authorization": f"Bearer {api_key}"},
        )

    refused = steps(251)

    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "num_inference_steps"
    assert "between 1 and 250 for qwen-image" in refused.json()["error"]["message"]


def _size_row(html: str, ratio: str) -> list[str]:
    table = html[html.index('id="size-presets"') :].split("</table>")[0]
    row = table[table.index(f'<th scope="row">{ratio}</th>') :].split("</tr>")[0]
    return [_text(cell) for cell in re.findall(r'<td class="made">(.*?)</td>', row, re.S)]


def test_size_table_says_what_each_provider_makes_of_a_preset(client, catalog):
    html = _model_page(client, "qwen-image")

    fal, replicate = _size_row(html, "16:9")  # the cheaper first: fal at 1K
    assert fal == "1365 × 768"
    assert replicate == (
        '1664 × 928 with size "1365x768": made at 1664 × 928, shrunk to 1365 × 768'
    )
    editors = _size_row(_model_page(client, "qwen-image-edit"), "16:9")
    assert editors == ["the input's shape", "1365 × 768"]
    *_, task_api = _size_row(_model_page(client, "qwen-image-2512"), "16:9")
    assert task_api == "1536 × 1024 its nearest size"


@pytest.mark.parametrize("slug", MODEL_IDS)
def test_size_table_is_what_the_gateway_fits(client, catalog, slug):
    (entry,) = model_entries(slug=slug)
    html = _model_page(client, slug)

    for ratio, pixels in entry.model.sizes["tiers"]["1K"].items():
        width, height = (int(side) for side in pixels.split("x"))
        cells = _size_row(html, ratio)
        assert len(cells) == len(entry.offerings)
        for item, cell in zip(entry.offerings, cells, strict=True):
            takes = item.offering.takes
            images = 0 if Mode.GENERATE in item.offering.modes else 1
            try:
                fitted = offering_fit(takes, Asked(width=width, height=height, images=images))
            except Unfit:
                assert cell.startswith("not served")
                continue
            if fitted.size_name is not None and fitted.size_name == takes.follows_input:
                assert cell == "the input's shape"
            else:
                assert cell.startswith(f"{fitted.width} × {fitted.height}")


def test_api_docs_explain_mapped_sizes_failover_and_withheld_images(client, catalog):
    html = client.get(reverse("catalog:api-docs")).text
    text = _text(html)
    errors_table = _text(html[html.index('id="error-table"') :].split("</table>")[0])

    assert '"mapped": [{"param": "size", "asked": "1024x1024", "served": "1:1 made at' in text
    assert "present only when something was mapped" in text
    assert "the gateway shrinks the images to the pixels you asked for" in text
    assert "size in the answer is the pixels of the images you get" in text
    assert "you get fewer images than n and pay only for those delivered" in text
    assert "400 with the code moderation_blocked and nothing is charged" in text
    assert "moderation_blocked" in errors_table and "provider_rejected" in errors_table
    assert "only when all of them refused do you get the first refusal's message" in errors_table
    assert "the output keeps the shape of the first picture" in text
    assert "does not take the shape of the input" not in text


def test_openapi_document_describes_mapped_and_the_size_handed_back(client):
    document = client.get("/v1/openapi.json").json()
    schemas = document["components"]["schemas"]

    for name in ("ImagesResponse", "Generation"):
        mapped = schemas[name]["properties"]["mapped"]
        assert mapped["type"] == "array"
        assert mapped["items"]["required"] == ["param", "asked", "served"]
        assert "only when something was mapped" in mapped["description"]
    assert (
        "pixels of the images handed back"
        in (schemas["ImagesResponse"]["properties"]["size"]["description"])
    )
    bad_request = document["paths"]["/images/generations"]["post"]["responses"]["400"]
    assert "provider_rejected" in bad_request["description"]
    assert "moderation_blocked" in bad_request["description"]


@pytest.mark.parametrize("slug", ["qwen-image-edit", "qwen-image-edit-2509"])
def test_editor_faqs_say_edits_keep_the_pictures_shape(client, catalog, slug):
    text = _text(_model_page(client, slug))

    assert "Why is my edited picture square?" not in text
    assert "1024x1024 whatever the shape of the input" not in text
    assert "What size is my edited picture? Without size, aspect_ratio or resolution it keeps" in (
        text
    )


def test_an_edit_without_a_size_keeps_the_pictures_shape_as_the_docs_say(client, api_key):
    response = client.post(
        "/v1/images/edits",
        {
            "model": "qwen-image-edit",
            "prompt": "make it blue",
            "image": factories.png_upload(width=400, height=300),
        },
        headers={"Authorization": f"Bearer {api_key}"},
    )

    assert response.status_code == 200, response.content
    width, height = (int(side) for side in response.json()["size"].split("x"))
    assert abs(width / height - 4 / 3) < 0.01
