import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_healthz_reports_database_and_storage(client):
    response = client.get(reverse("healthz"))

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True, "storage": True}


def test_healthz_reports_a_broken_storage(client, settings, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    settings.MEDIA_ROOT = blocker

    response = client.get(reverse("healthz"))

    assert response.status_code == 503
    assert response.json()["storage"] is False


def test_media_files_outside_storage_are_not_served(client):
    assert client.get("/media/../settings.py").status_code == 404
    assert client.get("/media/generations/nope.png").status_code == 404
