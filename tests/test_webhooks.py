"""Webhooks of async generations: signed as Standard Webhooks says (checked with its own
library), the secret shown and rotated on the API keys page, failed attempts retried later from
the task queue under the same `webhook-id`, and every attempt listed on the generation's page."""

import base64
import io
import json
import logging
import re
from datetime import timedelta

import openai
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult
from standardwebhooks import Webhook, WebhookVerificationError

from playground.accounts.models import WebhookSecret
from playground.accounts.services import account_delete
from playground.gateway import webhooks
from playground.gateway.models import Generation, WebhookDelivery
from playground.gateway.tasks import deliver_webhook
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(live_server, api_key):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)


def generate_async(sdk: openai.OpenAI, url: str) -> Generation:
    """A generation asked for in async mode with `url` as its webhook."""
    raw = sdk.images.with_raw_response.generate(
        model="qwen-image",
        prompt="a lighthouse at dawn",
        size="256x256",
        extra_headers={"Prefer": "respond-async"},
        extra_body={"webhook_url": url},
    )
    assert raw.status_code == 202
    return Generation.objects.get(pk=json.loads(raw.http_response.text)["id"])


def secret_on_page(client: Client) -> str:
    page = client.get(reverse("accounts:api-keys"))
    assert page.status_code == 200
    return re.search(r'id="webhook-secret"[^>]*value="(whsec_[^"]+)"', page.text)[1]


def run_worker() -> None:
    """A task worker process's run: everything due in the queue, then it stops."""
    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", stdout=io.StringIO())


def queued_retries() -> list[DBTaskResult]:
    return list(DBTaskResult.objects.filter(task_path=deliver_webhook.module_path, status="READY"))


def test_a_finished_generation_calls_its_webhook_signed_for_the_standard_library(
    sdk, user, webhook_receiver, caplog
):
    caplog.set_level(logging.DEBUG)
    generation = generate_async(sdk, webhook_receiver.hook_url)

    (hook,) = webhook_receiver.received
    secret = WebhookSecret.objects.get(user=user).secret
    status = Webhook(secret).verify(hook.body, hook.headers)
    assert status["id"] == str(generation.pk)
    assert status["status"] == "succeeded"
    assert hook.headers["webhook-id"] == f"msg_{generation.pk.hex}"
    assert hook.headers["x-generation-id"] == str(generation.pk)
    assert hook.headers["content-type"] == "application/json"
    (delivery,) = WebhookDelivery.objects.filter(generation=generation)
    assert (delivery.attempt, delivery.status_code, delivery.next_attempt_at) == (1, 204, None)
    assert secret.removeprefix("whsec_") not in caplog.text
    with pytest.raises(WebhookVerificationError):  # another account's secret does not verify
        other = factories.user_with_account()
        Webhook(secret_on_page(factories.signed_in_client(other))).verify(hook.body, hook.headers)


def test_the_secret_is_made_once_shown_on_the_api_keys_page_and_never_cached(signed_in, user):
    first = secret_on_page(signed_in)
    page = signed_in.get(reverse("accounts:api-keys"))

    assert first in page.text
    assert "no-store" in page.headers["Cache-Control"]
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32
    assert WebhookSecret.objects.get(user=user).secret == first


def test_rotating_signs_with_both_secrets_for_a_day_then_with_the_new_one_only(
    sdk, user, webhook_receiver
):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    old = secret_on_page(browser)
    page = browser.get(reverse("accounts:api-keys"))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)[1]
    rotate = reverse("accounts:webhook-secret-rotate")

    by_get = browser.get(rotate)
    without_token = browser.post(rotate)
    rotated = browser.post(rotate, {"csrfmiddlewaretoken": token}, follow=True)
    new = secret_on_page(browser)
    generate_async(sdk, webhook_receiver.hook_url)
    WebhookSecret.objects.filter(user=user).update(
        rotated_at=timezone.now() - WebhookSecret.GRACE - timedelta(seconds=1)
    )
    generate_async(sdk, webhook_receiver.hook_url)

    assert by_get.status_code == 405
    assert without_token.status_code == 403
    assert "Your webhook secret is new" in rotated.text
    assert "The previous secret signs too until" in rotated.text
    assert new != old
    during, after = webhook_receiver.received
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(during.body, during.headers)
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(after.body, after.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(after.body, after.headers)
    assert "The previous secret signs too" not in browser.get(reverse("accounts:api-keys")).text


def test_a_failed_attempt_is_tried_again_by_a_later_worker_under_the_same_webhook_id(
    sdk, user, webhook_receiver, database_tasks
):
    webhook_receiver.fail_next(500, message="receiver down")
    generation = generate_async(sdk, webhook_receiver.hook_url)

    run_worker()  # runs the generation, and the first attempt
    (retry,) = queued_retries()
    run_worker()  # the retry is not due yet
    not_yet = len(webhook_receiver.received)
    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())  # 5 s pass
    run_worker()

    first, second = WebhookDelivery.objects.filter(generation=generation)
    assert (first.attempt, first.status_code) == (1, 500)
    assert "receiver down" in first.response_excerpt
    assert first.next_attempt_at == first.sent_at + webhooks.RETRY_DELAYS[0]
    assert retry.task_result.args == [str(generation.pk), 2]
    assert retry.run_after == first.next_attempt_at
    assert not_yet == 1
    assert (second.attempt, second.status_code, second.next_attempt_at) == (2, 204, None)
    assert queued_retries() == []
    hooks = webhook_receiver.received
    assert hooks[0].headers["webhook-id"] == hooks[1].headers["webhook-id"]
    secret = WebhookSecret.objects.get(user=user).secret
    assert [Webhook(secret).verify(hook.body, hook.headers)["id"] for hook in hooks] == [
        str(generation.pk)
    ] * 2


def test_gone_ends_the_delivery_at_once(sdk, webhook_receiver):
    webhook_receiver.fail_next(410, message="unsubscribed")

    generation = generate_async(sdk, webhook_receiver.hook_url)

    (delivery,) = WebhookDelivery.objects.filter(generation=generation)
    assert (delivery.status_code, delivery.next_attempt_at) == (410, None)


def test_the_last_attempt_queues_no_other(sdk, webhook_receiver, database_tasks):
    generation = generate_async(sdk, webhook_receiver.hook_url)
    run_worker()
    last = len(webhooks.RETRY_DELAYS) + 1
    webhook_receiver.fail_next(503)

    status_code = deliver_webhook.call(str(generation.pk), last)

    assert status_code == 503
    assert WebhookDelivery.objects.get(generation=generation, attempt=last).next_attempt_at is None
    assert queued_retries() == []


def test_every_attempt_checks_that_the_url_is_public(sdk, webhook_receiver, settings):
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.dummy.DummyBackend"}}
    webhook_receiver.fail_next(500)
    generation = generate_async(sdk, webhook_receiver.hook_url)
    deliver_webhook.call(str(generation.pk), 1)  # allowed (private hosts are, in this test)
    settings.FETCH_ALLOW_PRIVATE_HOSTS = False

    deliver_webhook.call(str(generation.pk), 2)

    assert len(webhook_receiver.received) == 1
    first, second = WebhookDelivery.objects.filter(generation=generation)
    assert first.status_code == 500 and first.next_attempt_at is not None
    assert second.status_code is None
    assert second.error == "refused: 127.0.0.1 is not a public address"
    assert second.next_attempt_at is None


def test_the_attempts_are_listed_on_the_generation_page_for_its_owner_only(
    sdk, user, webhook_receiver, database_tasks
):
    webhook_receiver.fail_next(502, message="bad gateway")
    generation = generate_async(sdk, webhook_receiver.hook_url)
    run_worker()
    page_url = reverse("studio:generation", args=[generation.pk])

    page = factories.signed_in_client(user).get(page_url)
    stranger = factories.signed_in_client(factories.user_with_account()).get(page_url)

    assert page.status_code == 200
    section = page.text[page.text.index('id="webhook-deliveries"') :]
    assert f"msg_{generation.pk.hex}" in section
    assert webhook_receiver.hook_url in section
    assert "HTTP 502" in section
    assert "next try" in section
    assert "bad gateway" in section
    assert stranger.status_code == 404
    assert f"msg_{generation.pk.hex}" not in stranger.text


def test_deleting_the_account_deletes_its_webhook_secret(signed_in, user):
    secret_on_page(signed_in)

    account_delete(user=user)

    assert not WebhookSecret.objects.filter(user=user).exists()


def test_a_receiver_that_does_not_answer_in_time_is_tried_again(
    sdk, webhook_receiver, database_tasks, monkeypatch
):
    monkeypatch.setattr(webhooks, "TIMEOUT_SECONDS", 0.3)
    webhook_receiver.hang_next()
    generation = generate_async(sdk, webhook_receiver.hook_url)

    run_worker()
    webhook_receiver.release()

    (delivery,) = WebhookDelivery.objects.filter(generation=generation)
    assert delivery.status_code is None
    assert delivery.error == "no answer in 0.3 s"
    assert delivery.duration_ms < 5000
    assert [retry.task_result.args for retry in queued_retries()] == [[str(generation.pk), 2]]


def test_a_longer_retry_after_from_the_receiver_is_waited(sdk, webhook_receiver, database_tasks):
    webhook_receiver.fail_next(429, retry_after="120")
    generation = generate_async(sdk, webhook_receiver.hook_url)

    run_worker()

    (delivery,) = WebhookDelivery.objects.filter(generation=generation)
    assert delivery.status_code == 429
    assert delivery.next_attempt_at == delivery.sent_at + timedelta(seconds=120)
    (retry,) = queued_retries()
    assert retry.run_after == delivery.next_attempt_at
