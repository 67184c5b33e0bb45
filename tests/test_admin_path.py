"""The admin's path is a setting (ADMIN_PATH): moved, it serves the admin and its log-in
limit there, and the well-known /admin/ is a 404."""

import importlib

import pytest
from django.urls import clear_url_caches, reverse

import playground.urls
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_moved(settings):
    """The admin at "staff-only-4821/"; the URLs are read again, as when the site starts."""
    default = settings.ADMIN_PATH
    settings.ADMIN_PATH = "staff-only-4821/"
    importlib.reload(playground.urls)
    clear_url_caches()
    yield "/staff-only-4821/"
    settings.ADMIN_PATH = default
    importlib.reload(playground.urls)
    clear_url_caches()


@pytest.fixture
def staff_member():
    staff = factories.user_with_account()
    staff.is_staff = staff.is_superuser = True
    staff.save()
    return staff


def test_a_moved_admin_is_served_there_and_admin_is_not_found(client, admin_moved, staff_member):
    assert reverse("admin:index") == admin_moved
    log_in = client.post(
        f"{admin_moved}login/?next={admin_moved}",
        {"username": staff_member.username, "password": factories.PASSWORD},
    )
    assert log_in.status_code == 302 and log_in.url == admin_moved

    index = client.get(admin_moved)
    ledger = client.get(f"{admin_moved}accounts/ledgerentry/")
    assert index.status_code == 200 and "Site administration" in index.text
    assert ledger.status_code == 200
    for old in ("/admin/", "/admin/login/", "/admin/accounts/ledgerentry/"):
        assert client.get(old).status_code == 404
    assert "staff-only" not in client.get("/robots.txt").text


def test_a_moved_admin_log_in_is_limited(client, settings, admin_moved, staff_member):
    settings.LOG_IN_RATE_LIMIT_PER_MINUTE = 2
    wrong = {"username": staff_member.username, "password": "wrong"}
    statuses = [client.post(f"{admin_moved}login/", wrong).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
