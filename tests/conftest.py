import pytest
from django.core.management import call_command

from tests import factories

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    """Media in a temporary folder, playground jobs run as soon as they are queued."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    settings.STARTER_CREDITS_USD = "1.00"


@pytest.fixture
def catalog(db):
    call_command("load_catalog", verbosity=0, stdout=None)


@pytest.fixture
def user(db):
    return factories.user_with_account()


@pytest.fixture
def api_key(user, catalog):
    return factories.raw_api_key(user=user)
