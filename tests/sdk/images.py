"""One case of the image API through the official openai Python SDK, of whichever major the
interpreter running this has (tests/test_api_clients.py runs it with each).

Usage: BASE_URL=... API_KEY=... IMAGE=path.png python images.py CASE  -> prints a JSON summary.
"""

import json
import os
import sys

import openai


def connect(api_key: str, *, max_retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=os.environ["BASE_URL"], api_key=api_key, max_retries=max_retries)


client = connect(os.environ["API_KEY"])
IMAGE = os.environ["IMAGE"]
EDIT = {"model": "qwen-image-edit-plus", "prompt": "add a rainbow"}


def generate():
    response = client.images.generate(
        model="qwen-image", prompt="a paper boat on a pond", size="512x384"
    )
    return {"url": response.data[0].url, "size": response.size}


def edit():
    with open(IMAGE, "rb") as file:
        one = client.images.with_raw_response.edit(image=file, **EDIT)
    with open(IMAGE, "rb") as first, open(IMAGE, "rb") as second:
        several = client.images.with_raw_response.edit(image=[first, second], **EDIT)
    return {"file": made(one, images=1), "several files": made(several, images=2)}


def stream_generation():
    return events(
        client.images.generate(
            model="qwen-image", prompt="a paper boat on a pond", stream=True, partial_images=2
        )
    )


def stream_edit():
    with open(IMAGE, "rb") as file:
        return events(client.images.edit(image=file, stream=True, partial_images=2, **EDIT))


def stream_failure():
    """A stream whose run fails after it began: the SDK raises the error event."""
    try:
        events(client.images.generate(model="qwen-image", prompt="x", stream=True))
    except openai.APIError as error:
        return {"error": type(error).__name__, "code": error.code, "message": error.message}
    return None


def cancelled():
    """A call whose generation its user cancels while it runs, with the SDK's default retries
    (two): it raises, and is not sent again."""
    retrying = connect(os.environ["API_KEY"], max_retries=2)
    try:
        retrying.images.generate(model="qwen-image", prompt="cancel me")
    except openai.APIStatusError as error:
        headers = error.response.headers
        return refused(error) | {
            "generation": headers.get("x-generation-id"),
            "should_retry": headers.get("x-should-retry"),
        }
    return None


def errors():
    wrong_key = connect("sk-wrong")
    return {
        "wrong key": refusal(lambda: wrong_key.images.generate(model="qwen-image", prompt="x")),
        "bad size": refusal(
            lambda: client.images.generate(model="qwen-image", prompt="x", size="big")
        ),
    }


def made(raw, *, images: int) -> dict:
    """The generation an edit made, and how many images it was sent."""
    return {"generation": raw.headers["x-generation-id"], "images": images}


def events(stream) -> dict:
    """The types of the events streamed, and the last one's image."""
    types, b64_json = [], None
    for event in stream:
        types.append(event.type)
        b64_json = event.b64_json
    return {"types": types, "b64_json": b64_json}


def refusal(call) -> dict | None:
    try:
        call()
    except openai.APIStatusError as error:
        return refused(error)
    return None


def refused(error: openai.APIStatusError) -> dict:
    return {
        "error": type(error).__name__,
        "status": error.status_code,
        "code": error.code,
        "param": error.param,
    }


CASES = {
    case.__name__: case
    for case in (generate, edit, stream_generation, stream_edit, stream_failure, cancelled, errors)
}

if __name__ == "__main__":
    print(json.dumps(CASES[sys.argv[1]]()))
