"""Rate limits: per API key and per address on /v1/, per address on sign-up and log-in."""

import httpx
import pytest
from django.urls import reverse

from tests import factories

pytestmark = pytest.mark.django_db


def test_sign_up_posts_are_limited_per_address(client, settings):
    settings.SIGN_UP_RATE_LIMIT_PER_MINUTE = 2
    attempt = {"email": "x", "password1": "a", "password2": "b"}
    statuses = [client.post(reverse("account_signup"), attempt).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    limited = client.post(reverse("account_signup"), attempt)
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert "Too many attempts" in limited.text
    assert client.get(reverse("account_signup")).status_code == 200  # reading is not limited


def test_log_in_posts_are_limited_per_address(client, settings, user):
    settings.LOG_IN_RATE_LIMIT_PER_MINUTE = 3
    wrong = {"login": user.username, "password": "wrong"}
    for _ in range(3):
        assert client.post(reverse("account_login"), wrong).status_code == 200

    right = {"login": user.username, "password": factories.PASSWORD}
    assert client.post(reverse("account_login"), right).status_code == 429


@pytest.mark.django_db(transaction=True)
def test_the_api_is_limited_per_address_even_without_a_key(live_server, settings):
    settings.API_RATE_LIMIT_PER_IP_PER_MINUTE = 3
    url = f"{live_server.url}/v1/models"
    statuses = [
        httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code for _ in range(4)
    ]

    assert statuses == [401, 401, 401, 429]
    limited = httpx.get(url)
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert "retry-after" in limited.headers


def test_admin_log_in_posts_are_limited_like_the_sites(client, settings):
    staff = factories.user_with_account()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    wrong = {"username": staff.username, "password": "wrong", "next": "/admin/"}
    statuses = [client.post("/admin/login/", wrong).status_code for _ in range(15)]

    assert statuses == [200] * settings.LOG_IN_RATE_LIMIT_PER_MINUTE + [429] * 5
    right = {"username": staff.username, "password": factories.PASSWORD}
    limited = client.post("/admin/login/", right)
    assert limited.status_code == 429
    assert "Too many attempts" in limited.text and "Retry-After" in limited.headers
    assert client.get("/admin/login/").status_code == 200  # reading is not limited
