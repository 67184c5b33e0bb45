"""The playground round trip through the test client, with htmx headers."""

import pytest
from django.urls import reverse

from playground.accounts.money import format_usd
from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(client, user, catalog):
    client.force_login(user)
    return client


def test_anonymous_visitors_see_the_form_with_a_sign_up_prompt(client, catalog):
    response = client.get(reverse("studio:playground"))

    assert response.status_code == 200
    assert "Sign up" in response.text
    assert 'name="prompt"' in response.text


def test_anonymous_visitors_cannot_run_jobs(client, catalog):
    response = client.post(reverse("studio:generate"), {"prompt": "x"}, headers=HTMX)

    assert response.status_code == 302
    assert not Generation.objects.exists()


def test_generate_shows_the_card_then_the_image_and_updates_the_balance(signed_in, user):
    response = signed_in.post(
        reverse("studio:generate"),
        {"model": "qwen-image", "prompt": "a teapot in space", "size": "1024x1024"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert "balance-changed" in response.headers["HX-Trigger"]
    generation = Generation.objects.get(user=user)
    assert f'id="gen-{generation.pk}"' in response.text
    assert "a teapot in space" in response.text

    card = signed_in.get(reverse("studio:generation-card", args=[generation.pk]), headers=HTMX)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.SUCCEEDED
    image = generation.images.get()
    assert image.file.url in card.text
    assert "every 1s" not in card.text  # finished cards stop polling
    assert ">demo<" in card.text
    assert factories.balance_micros(user) == 1_000_000 - generation.cost_micros
    balance = signed_in.get(reverse("accounts:balance"), headers=HTMX)
    assert format_usd(1_000_000 - generation.cost_micros) in balance.text

    fetched = signed_in.get(image.file.url)
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_queued_card_keeps_polling(signed_in, user, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    signed_in.post(
        reverse("studio:generate"),
        {"model": "qwen-image", "prompt": "later", "size": "1024x1024"},
        headers=HTMX,
    )
    generation = Generation.objects.get(user=user)

    card = signed_in.get(reverse("studio:generation-card", args=[generation.pk]), headers=HTMX)

    assert generation.status == Generation.Status.QUEUED
    assert 'hx-trigger="every 1s"' in card.text


def test_invalid_form_re_renders_with_errors(signed_in):
    response = signed_in.post(
        reverse("studio:generate"),
        {"model": "qwen-image", "prompt": "", "size": "1024x1024"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert "This field is required" in response.text
    assert not Generation.objects.exists()


def test_short_balance_is_a_readable_message_and_nothing_is_charged(client, catalog, settings):
    settings.STARTER_CREDITS_USD = "0"
    user = factories.user_with_account()
    client.force_login(user)

    response = client.post(
        reverse("studio:generate"),
        {"model": "qwen-image", "prompt": "x", "size": "1024x1024"},
        headers=HTMX,
    )

    assert "balance is too low" in response.text
    assert factories.balance_micros(user) == 0


def test_users_cannot_see_each_others_cards(signed_in, user):
    other = factories.user_with_account()
    signed_in.force_login(other)
    signed_in.post(
        reverse("studio:generate"),
        {"model": "qwen-image", "prompt": "mine", "size": "1024x1024"},
        headers=HTMX,
    )
    generation = Generation.objects.get(user=other)
    signed_in.force_login(user)

    response = signed_in.get(reverse("studio:generation-card", args=[generation.pk]))

    assert response.status_code == 404
