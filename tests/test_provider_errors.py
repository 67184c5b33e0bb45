"""Every adapter maps every upstream fault to the right `ProviderError`, and its key never shows."""

import email.utils
import io
import logging
import time

import httpx
import pytest
from PIL import Image, UnidentifiedImageError

from playground.providers._http import error_field
from playground.providers.base import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from tests.fakes.fal import FalFake
from tests.fakes.fixtures import adapter_for, make_job, run
from tests.fakes.openai import OpenAIFake
from tests.fakes.qwen2512 import Qwen2512Fake
from tests.fakes.replicate import ReplicateFake
from tests.fakes.server import FakeServer

pytestmark = pytest.mark.usefixtures("fast_polling")

KEY = "sk-DISTINCTIVE-7f3a9c0e5b-do-not-leak"
# A job each service takes, as the gateway builds it: its model and a size it accepts.
JOBS = {
    FalFake: {"model_id": "fal-ai/qwen-image"},
    ReplicateFake: {
        "model_id": "qwen/qwen-image",
        "size_name": "1:1",
        "width": 1328,
        "height": 1328,
        "image_list": False,
    },
    Qwen2512Fake: {
        "model_id": "qwen-image-2512",
        "size_name": "1024*1024",
        "width": 1024,
        "height": 1024,
    },
    OpenAIFake: {"model_id": "qwen-image"},
}
POLL_ROUTES = {FalFake: "status", ReplicateFake: "get", Qwen2512Fake: "status"}


@pytest.fixture(params=list(JOBS), ids=lambda cls: cls.__name__)
def fake(request):
    with request.param(api_key=KEY) as fake:
        yield fake


@pytest.fixture(params=list(POLL_ROUTES), ids=lambda cls: cls.__name__)
def queue_fake(request):
    with request.param(api_key=KEY) as fake:
        if isinstance(fake, ReplicateFake):  # the create must not answer the finished job
            fake.wait_cap = 0
            fake.queue_position = 1
        yield fake


def failure(fake: FakeServer, *, timeout: float = 5.0, api_key: str = KEY) -> ProviderError:
    """The error the adapter raises for one job against `fake`; the key must be in none of it."""
    provider = adapter_for(fake, api_key=api_key)
    job = make_job(**JOBS[type(fake)])
    with pytest.raises(ProviderError) as caught:
        run(lambda client: provider.generate(job, client), timeout=timeout)
    error = caught.value
    assert KEY not in str(error) and KEY not in repr(error) and KEY not in repr(provider)
    return error


def http_date(seconds_from_now: int) -> str:
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_unavailable(fake, status):
    fake.fail_next(status)

    error = failure(fake)

    assert type(error) is ProviderUnavailable and error.status == status


def test_429_is_rate_limited_with_retry_after_in_seconds(fake):
    fake.fail_next(429, retry_after="7")

    error = failure(fake)

    assert type(error) is ProviderRateLimited and error.retry_after == 7


def test_429_retry_after_may_be_an_http_date(fake):
    fake.fail_next(429, retry_after=http_date(30))

    error = failure(fake)

    assert type(error) is ProviderRateLimited and 25 <= error.retry_after <= 30


def test_429_without_retry_after(fake):
    fake.fail_next(429)

    error = failure(fake)

    assert type(error) is ProviderRateLimited and error.retry_after is None


def test_malformed_json_is_unavailable(fake):
    fake.malformed_next()

    error = failure(fake)

    assert type(error) is ProviderUnavailable and "not JSON" in str(error)


def test_an_answer_missing_its_fields_is_unavailable(fake):
    fake.fail_next(200, body={"unexpected": True})

    assert type(failure(fake)) is ProviderUnavailable


def test_a_hang_past_the_client_timeout_is_unavailable(fake):
    fake.hang_next()

    error = failure(fake, timeout=0.2)

    assert type(error) is ProviderUnavailable and "did not answer in time" in str(error)


def test_a_refused_connection_is_unavailable(fake):
    fake.stop()

    error = failure(fake)

    assert type(error) is ProviderUnavailable and "could not be reached" in str(error)


def test_a_wrong_key_is_unavailable_and_never_echoed(fake):
    error = failure(fake, api_key=f"{KEY}-wrong")

    assert type(error) is ProviderUnavailable and error.status == 401
    assert "-wrong" not in str(error)


def test_the_providers_reason_is_carried_without_the_key(fake):
    fake.fail_next(400, message=f"The key {KEY} may not use this model")

    error = failure(fake)

    assert type(error) is ProviderRejected and error.status == 400
    assert "The key [redacted] may not use this model" in str(error)


def test_no_log_line_carries_the_key(fake, caplog):
    caplog.set_level(logging.DEBUG)
    fake.fail_next(503)

    failure(fake)

    assert caplog.records
    assert not [record for record in caplog.records if KEY in record.getMessage()]


@pytest.mark.parametrize(
    ("script", "expected", "timeout"),
    [
        (lambda fake, route: fake.fail_next(503, on=route), ProviderUnavailable, 5.0),
        (
            lambda fake, route: fake.fail_next(429, on=route, retry_after="3"),
            ProviderRateLimited,
            5.0,
        ),
        (lambda fake, route: fake.malformed_next(on=route), ProviderUnavailable, 5.0),
        # Short enough to end the hang soon, long enough for the submit on a busy machine.
        (lambda fake, route: fake.hang_next(on=route), ProviderUnavailable, 1.0),
    ],
    ids=["503", "429", "malformed", "hang"],
)
def test_faults_while_polling_map_the_same_way(queue_fake, script, expected, timeout):
    script(queue_fake, POLL_ROUTES[type(queue_fake)])

    error = failure(queue_fake, timeout=timeout)

    assert type(error) is expected
    assert queue_fake.requests_to(POLL_ROUTES[type(queue_fake)])


def test_a_job_that_never_finishes_gives_up_after_max_wait(queue_fake, monkeypatch):
    monkeypatch.setattr(type(adapter_for(queue_fake)), "max_wait", 0.05)
    queue_fake.hold_jobs()

    error = failure(queue_fake)

    assert type(error) is ProviderUnavailable and "did not finish" in str(error)


@pytest.fixture
def fal_fake_with_image():
    with FalFake() as fake:
        job = make_job()
        [image] = run(lambda client: adapter_for(fake).generate(job, client)).images
        yield fake, image.url


def test_fakes_can_break_their_result_files(fal_fake_with_image):
    fake, url = fal_fake_with_image
    fake.fail_next(404, on="file")
    fake.malformed_next(on="file")

    assert httpx.get(url).status_code == 404
    corrupt = httpx.get(url)
    assert corrupt.status_code == 200
    with pytest.raises(UnidentifiedImageError):
        Image.open(io.BytesIO(corrupt.content))
    assert Image.open(io.BytesIO(httpx.get(url).content)).size == (64, 48)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"detail": [{"loc": ["body", "guidance_scale"], "msg": "too high"}]}, "guidance_scale"),
        ({"detail": [{"loc": ["body"], "msg": "bad"}, {"loc": ["body", "seed"]}]}, "seed"),
        ({"invalid_fields": [{"field": "input", "type": "required"}]}, None),
        (
            {"invalid_fields": [{"field": "input"}, {"field": "input.guidance"}]},
            "guidance",
        ),
        ({"detail": "a sentence"}, None),
        (None, None),
    ],
)
def test_a_refusal_names_the_first_field_it_is_about(body, field):
    assert error_field(body) == field
