"""Images in an S3-compatible bucket (django-storages), against moto's S3 server on loopback:
stored by a generation, served by a signed URL, deleted with the storage API."""

import io

import boto3
import httpx
import openai
import pytest
from django.core.files.storage import default_storage
from moto.server import ThreadedMotoServer
from PIL import Image

from playground.gateway.models import Generation
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "playground-test-images"


@pytest.fixture
def s3_bucket(settings):
    port = factories.free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials).create_bucket(
        Bucket=BUCKET
    )
    settings.STORAGES = settings.STORAGES | {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "access_key": "test",
                "secret_key": "test",
                "region_name": "us-east-1",
                "querystring_auth": True,
                "file_overwrite": False,
            },
        }
    }
    yield endpoint
    server.stop()


def test_generated_images_live_in_the_bucket_and_are_served_by_signed_urls(
    live_server, api_key, s3_bucket
):
    client = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=api_key, max_retries=0)

    raw = client.images.with_raw_response.generate(
        model="qwen-image", prompt="bucket", size="320x200"
    )

    url = raw.parse().data[0].url
    assert url.startswith(s3_bucket) and "Signature=" in url
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert Image.open(io.BytesIO(fetched.content)).size == (320, 200)
    name = Generation.objects.get(pk=raw.headers["x-generation-id"]).images.get().file.name
    assert default_storage.exists(name)

    default_storage.delete(name)

    assert not default_storage.exists(name)
    assert httpx.get(url).status_code == 404


def test_healthz_checks_the_bucket(client, s3_bucket):
    assert client.get("/healthz").json() == {"status": "ok", "database": True, "storage": True}
