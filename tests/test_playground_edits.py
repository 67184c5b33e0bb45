"""Image edits from the playground: uploads, picked earlier results, reused inputs, masks."""

import re

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from playground.gateway.models import Generation
from tests import factories
from tests.factories import (
    HTMX,
    finished_generation,
    generate,
    png_upload,
    run_form,
)

pytestmark = pytest.mark.django_db


def test_edit_with_an_uploaded_image(signed_in, user):
    response = signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", prompt="make it blue", images=[png_upload()]),
        headers=HTMX,
    )

    assert response.status_code == 200
    generation = Generation.objects.get(user=user)
    assert generation.mode == "edit"
    [stored] = generation.params["inputs"]["images"]
    assert default_storage.open(stored).read() == factories.png_bytes()
    assert generation.status == Generation.Status.SUCCEEDED


def test_more_pictures_than_the_model_takes_is_a_form_error(signed_in, user):
    response = signed_in.post(
        reverse("studio:generate"),
        run_form(
            model="qwen-image-edit:edit", prompt="x", images=[png_upload(), png_upload("b.png")]
        ),
        headers=HTMX,
    )

    assert "qwen-image-edit takes at most 1 input image (the request has 2)." in response.text
    assert not Generation.objects.exists()
    assert factories.balance_micros(user) == factories.START


def test_uploads_are_checked_for_type_size_and_content(signed_in, settings):
    def errors(upload):
        response = signed_in.post(
            reverse("studio:generate"),
            run_form(model="qwen-image-edit:edit", images=[upload]),
            headers=HTMX,
        )
        return response.text

    settings.MAX_UPLOAD_BYTES = 10_000
    assert "notes.txt is not a PNG, JPEG or WebP image" in errors(
        SimpleUploadedFile("notes.txt", b"hello", content_type="text/plain")
    )
    assert "big.png is 11.7\xa0KB; the limit is 9.8\xa0KB per image" in errors(
        SimpleUploadedFile("big.png", b"x" * 12_000, content_type="image/png")
    )
    assert "the file is not a readable PNG, JPEG or WebP image" in errors(
        SimpleUploadedFile("fake.png", b"not a picture", content_type="image/png")
    )
    assert not Generation.objects.exists()


def test_an_edit_needs_an_image(signed_in):
    response = generate(signed_in, model="qwen-image-edit:edit")

    assert "Add an image to edit" in response.text
    assert not Generation.objects.exists()


def test_edit_this_image_opens_an_edit_model_with_the_result_as_input(signed_in, user):
    source = finished_generation(user).images.get()

    page = signed_in.get(reverse("studio:playground"), {"image": source.pk})

    assert 'value="qwen-image-edit:edit" selected' in page.text
    assert f'name="picks" value="{source.pk}" checked' in page.text

    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", picks=[source.pk]),
        headers=HTMX,
    )

    edit = Generation.objects.get(user=user, mode="edit")
    [stored] = edit.params["inputs"]["images"]
    assert default_storage.open(stored).read() == source.file.open("rb").read()


def test_only_your_own_results_can_be_picked(signed_in, user):
    other = finished_generation(factories.user_with_account()).images.get()

    response = signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", picks=[other.pk]),
        headers=HTMX,
    )

    assert "Select a valid choice" in response.text
    assert not Generation.objects.filter(user=user).exists()
    assert signed_in.get(reverse("studio:playground"), {"image": other.pk}).status_code == 404


def test_reuse_these_settings_fills_the_form(signed_in, user):
    generation = finished_generation(
        user, prompt="a lantern", aspect_ratio="3:4", n="2", acceleration="regular"
    )

    text = signed_in.get(reverse("studio:playground"), {"reuse": generation.pk}).text

    assert "a lantern</textarea>" in text
    assert 'value="3:4" id="id_aspect_ratio_2" required checked' in text
    assert 'value="2" id="id_n_1" required checked' in text
    assert f'value="{generation.seed}"' in text
    assert re.search(r'name="lock_seed"[^>]* checked', text)
    assert '<option value="regular" selected>' in text


def test_reusing_an_edit_offers_its_input_images(signed_in, user):
    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", images=[png_upload()]),
        headers=HTMX,
    )
    first = Generation.objects.get(user=user)

    text = signed_in.get(reverse("studio:playground"), {"reuse": first.pk}).text
    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", inputs_of=str(first.pk)),
        headers=HTMX,
    )

    assert f'name="inputs_of" value="{first.pk}"' in text
    again = Generation.objects.exclude(pk=first.pk).get(user=user)
    [stored] = again.params["inputs"]["images"]
    assert default_storage.open(stored).read() == factories.png_bytes()


def mask_upload(**options) -> SimpleUploadedFile:
    return SimpleUploadedFile("mask.png", factories.mask_png(**options), content_type="image/png")


def test_a_painted_mask_is_stored_and_the_edit_kept_to_it(signed_in, user):
    signed_in.post(
        reverse("studio:generate"),
        run_form(model="qwen-image-edit:edit", images=[png_upload()], mask=mask_upload()),
        headers=HTMX,
    )

    generation = Generation.objects.get(user=user)
    assert generation.status == Generation.Status.SUCCEEDED
    # Made in the input's shape (4:3), not the form's 1:1 stretched into it.
    assert (generation.params["size"], generation.params["aspect_ratio"]) == (None, None)
    assert default_storage.open(generation.params["inputs"]["mask"]).read() == (
        factories.mask_png()
    )
    result = Image.open(generation.images.get().file.open("rb")).convert("RGB")
    assert result.size == (64, 48)  # the input's pixels, as the mask's
    assert result.getpixel((40, 30)) == (200, 30, 30)  # opaque in the mask: the input's red
    assert result.getpixel((16, 14)) != (200, 30, 30)  # painted: the demo's edit


def test_a_mask_that_does_not_fit_the_first_image_is_a_form_error(signed_in, user):
    response = signed_in.post(
        reverse("studio:generate"),
        run_form(
            model="qwen-image-edit:edit",
            images=[png_upload()],
            mask=mask_upload(width=32, height=32, painted=(0, 0, 8, 8)),
        ),
        headers=HTMX,
    )

    assert "the mask is 32x32; it must have the pixels of the first image, 64x48" in response.text
    assert not Generation.objects.exists()
    assert factories.balance_micros(user) == factories.START
