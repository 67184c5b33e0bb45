import pytest
from django.core.files.storage import default_storage
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


def test_the_storage_probe_is_shared_by_requests_for_a_few_seconds(client, catalog, monkeypatch):
    saves = []
    save = default_storage.save
    monkeypatch.setattr(default_storage, "save", lambda *args: saves.append(args) or save(*args))

    for _ in range(3):
        assert client.get(reverse("healthz")).status_code == 200
        assert client.get(reverse("status")).status_code == 200

    assert len(saves) == 1
