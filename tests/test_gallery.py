"""The models' galleries: owners publish result images and take them back, staff hide them, the
model pages show what is published with its settings, and "reuse these settings" fills the
playground."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from playground.gateway.models import Generation
from tests import factories
from tests.factories import HTMX, PASSWORD, finished_generation

pytestmark = pytest.mark.django_db

PLACEHOLDERS = "No one has published an image of Qwen Image yet."


def model_page(client) -> str:
    return client.get(reverse("catalog:model-detail", args=["qwen-image"])).text


def publish(client, image):
    return client.post(reverse("studio:image-publish", args=[image.pk]))


def unpublish(client, image):
    return client.post(reverse("studio:image-unpublish", args=[image.pk]))


def admin_action(client, action: str, image):
    return client.post(
        reverse("admin:gateway_generationimage_changelist"),
        {"action": action, "_selected_action": [image.pk]},
    )


@pytest.fixture
def image(user, catalog):
    generation = finished_generation(
        user, prompt="a lantern on a pier", negative_prompt="fog", seed="4321", lock_seed="on"
    )
    return generation.images.get()


@pytest.fixture
def staff(client):
    get_user_model().objects.create_superuser("staff", "staff@example.com", PASSWORD)
    return factories.signed_in_client(get_user_model().objects.get(username="staff"))


def test_placeholders_show_while_nothing_is_published(client, image):
    html = model_page(client)

    assert PLACEHOLDERS in html
    assert "they are not the model's work" in html
    assert image.file.url not in html


def test_the_owner_publishes_an_image_with_its_settings(signed_in, client, image):
    response = publish(signed_in, image)

    assert response.status_code == 302
    assert response.url == reverse("studio:generation", args=[image.generation_id])
    html = model_page(client)
    assert PLACEHOLDERS not in html
    assert f'<img src="{image.file.url}"' in html
    assert "a lantern on a pier" in html
    assert "<code>size=1024x1024</code>" in html
    assert "<code>seed=4321</code>" in html
    assert "Negative prompt: fog" in html
    assert f'href="{reverse("studio:playground")}?gallery={image.pk}">Reuse these settings' in html


def test_publishing_through_htmx_answers_the_choices_again(signed_in, image):
    page = signed_in.get(reverse("studio:generation", args=[image.generation_id])).text
    response = signed_in.post(reverse("studio:image-publish", args=[image.pk]), headers=HTMX)

    assert "Publish to the gallery</button>" in page
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div class="gallery-choices" id="gallery-choices">')
    assert "<strong>in the gallery</strong>" in response.text
    assert "Unpublish</button>" in response.text


def test_the_owner_takes_an_image_back(signed_in, client, image):
    publish(signed_in, image)
    response = unpublish(signed_in, image)

    assert response.status_code == 302
    assert PLACEHOLDERS in model_page(client)
    image.refresh_from_db()
    assert image.published_at is None


def test_only_the_owner_publishes_or_unpublishes(signed_in, image):
    intruder = factories.signed_in_client(factories.user_with_account())
    publish(signed_in, image)

    assert publish(intruder, image).status_code == 404
    assert unpublish(intruder, image).status_code == 404
    assert unpublish(Client(), image).url.startswith(reverse("account_login"))
    image.refresh_from_db()
    assert image.published_at is not None


def test_only_images_of_succeeded_generations_are_published(signed_in, client, image):
    Generation.objects.filter(pk=image.generation_id).update(status=Generation.Status.FAILED)

    assert publish(signed_in, image).status_code == 404
    assert PLACEHOLDERS in model_page(client)


def test_staff_hide_an_image_until_they_show_it_again(signed_in, client, staff, image):
    publish(signed_in, image)

    hidden = admin_action(staff, "hide", image)
    unpublish(signed_in, image)
    publish(signed_in, image)
    while_hidden = model_page(client)
    owner_view = signed_in.get(reverse("studio:generation", args=[image.generation_id])).text
    admin_action(staff, "unhide", image)

    assert hidden.status_code == 302
    assert PLACEHOLDERS in while_hidden
    assert image.file.url not in while_hidden
    assert "<strong>hidden by staff</strong>" in owner_view
    assert f'<img src="{image.file.url}"' in model_page(client)


def test_staff_alone_hide_images(signed_in, client, image):
    publish(signed_in, image)

    response = admin_action(signed_in, "hide", image)

    assert response.status_code == 302 and "/admin/login/" in response.url
    assert f'<img src="{image.file.url}"' in model_page(client)


def test_deleting_the_generation_takes_its_images_out(signed_in, client, image):
    publish(signed_in, image)

    signed_in.post(reverse("studio:generation-delete", args=[image.generation_id]))

    assert PLACEHOLDERS in model_page(client)


def test_the_gallery_shows_the_newest_first_in_one_query(
    signed_in, user, image, django_assert_max_num_queries
):
    publish(signed_in, image)
    newer = finished_generation(user, prompt="a newer lantern").images.get()
    publish(signed_in, newer)
    visitor = Client()
    model_page(visitor)  # the catalog is read once per process and version

    with django_assert_max_num_queries(1):
        html = model_page(visitor)

    assert html.index("a newer lantern") < html.index("a lantern on a pier")


def test_reuse_these_settings_fills_the_playground_for_anyone(signed_in, user):
    generation = finished_generation(
        user,
        prompt="a red kite",
        aspect_ratio="16:9",
        n="2",
        seed="1234",
        lock_seed="on",
        acceleration="regular",
    )
    second = generation.images.get(index=1)
    publish(signed_in, second)

    text = Client().get(reverse("studio:playground"), {"gallery": second.pk}).text

    assert "a red kite</textarea>" in text
    assert '<option value="qwen-image:generate" selected>' in text
    assert re.search(r'value="16:9" id="id_aspect_ratio_\d+" required checked', text)
    assert 'value="1" id="id_n_0" required checked' in text
    assert f'name="seed" value="{second.seed_used}"' in text
    assert re.search(r'name="lock_seed"[^>]* checked', text)
    assert '<option value="regular" selected>' in text


def test_reuse_is_refused_for_an_image_not_shown(signed_in, image, staff):
    visitor = Client()
    unpublished = visitor.get(reverse("studio:playground"), {"gallery": image.pk})
    publish(signed_in, image)
    admin_action(staff, "hide", image)
    hidden = visitor.get(reverse("studio:playground"), {"gallery": image.pk})

    assert unpublished.status_code == hidden.status_code == 404
